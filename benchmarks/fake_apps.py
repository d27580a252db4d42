"""Benchmark variants of the fakes in `tests/fakes/`, for `benchmarks.fake_upstream_server --app`.

Each runs in the fake's own process, so adjusting a fake module here touches nothing else.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes import gemini_upstream
from tests.fakes.server import Recorder


def make_gemini_app(recorder: Recorder, *, write_gap_s: float = 0.0, **options: Any) -> web.Application:
    """The Gemini fake with `write_gap_s` seconds between its stream writes instead of 5 ms.

    The tests' fake pauses after every stream event so that each leaves in its own TCP segment.
    With ~4-character chunks a 1 KB echo is ~260 events, so the pause alone would be ~1.3 s per
    answer on both sides, and the Gemini case would time `asyncio.sleep` instead of the proxy. The
    OpenAI and Bedrock fakes write without pauses; 0 puts Gemini on the same footing (each write
    still yields to the event loop once).
    """
    if not hasattr(gemini_upstream, "_WRITE_GAP_SECONDS"):
        # Fail loudly rather than silently benchmark a different fake.
        raise RuntimeError(
            "tests.fakes.gemini_upstream no longer has _WRITE_GAP_SECONDS; update this wrapper"
        )
    gemini_upstream._WRITE_GAP_SECONDS = write_gap_s  # this process serves only this fake
    return gemini_upstream.make_gemini_app(recorder, **options)
