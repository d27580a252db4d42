"""Serve one of the fake upstreams from `tests/fakes/` as a standalone process.

The benchmark needs the fake in its own OS process: run in a thread of the load generator or of
the proxy, it would share their GIL and its cost would show up in whichever side it lives with.

    python -m benchmarks.fake_upstream_server --port 9001 \
        --app tests.fakes.openai_upstream:make_openai_app \
        --options '{"api_key": "sk-bench", "chunk_size": 4}'

`--app` names any fake factory taking `(recorder, **options)`, so a new provider's fake needs no
change here; whatever it needs goes in `--options`, e.g. the Bedrock fake's SigV4 credentials:

    python -m benchmarks.fake_upstream_server --port 9002 \
        --app tests.fakes.bedrock_upstream:make_bedrock_app \
        --options '{"access_key": "AKID...", "secret_key": "...", "region": "eu-west-1", "chunk_size": 4}'
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import ReceivedRequest, Recorder


class DiscardingRecorder(Recorder):
    """A recorder that keeps nothing.

    The tests' recorder appends every request to a list, which over a long benchmark would grow
    without bound and slow the fake down as it goes; the fakes still need `record()` to read the body.
    """

    async def record(self, request: web.Request) -> ReceivedRequest:
        body = await request.read()
        return ReceivedRequest(
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            query={},
            headers={},
            body=body,
        )


def load_factory(spec: str) -> Callable[..., web.Application]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--app must look like 'package.module:function', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    if not callable(factory):
        raise ValueError(f"{spec} is not callable")
    return factory  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake AI-provider upstream on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", required=True, help="factory as module:function, e.g. ...:make_openai_app")
    parser.add_argument("--options", default="{}", help="JSON object of keyword arguments for the factory")
    args = parser.parse_args(argv)
    options: Any = orjson.loads(args.options)
    if not isinstance(options, dict):
        parser.error("--options must be a JSON object")
    logging.basicConfig(level=logging.WARNING)
    app = load_factory(args.app)(DiscardingRecorder(), **options)
    # No access log: writing a line per request would be cost the real provider does not add.
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
