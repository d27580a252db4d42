"""`consentry serve` validates the address it will actually bind; `consentry scan` streams through the
same offline detection as `proxy.detection.scan_texts`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from proxy import cli, detection
from proxy.detection import SCAN_BATCH, PresidioDetector, scan_texts

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CONSENTRY_"):
            monkeypatch.delenv(name)
    # parse_config keeps a generated hash key beside the ledger: keep it out of the source tree.
    monkeypatch.setenv("CONSENTRY_DB_PATH", str(tmp_path / "ledger.db"))
    # One serving process: `serve` below is the in-process loop (tests/test_serve_workers.py: more).
    monkeypatch.setenv("CONSENTRY_WORKERS", "1")


@pytest.fixture()
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What `consentry serve` would have run, instead of running it."""
    calls: list[dict[str, Any]] = []
    import proxy.app
    import proxy.serve

    async def serve(app: object, config: Any) -> None:
        calls.append({"host": config.host, "port": config.port})

    monkeypatch.setattr(proxy.app, "build_app", lambda config: ("app", config))
    monkeypatch.setattr(proxy.serve, "serve", serve)
    # the logging set-up is process-wide: not in the test process (tests/test_logs_carry_no_content.py)
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    return calls


# --- serve ---------------------------------------------------------------------------------------


def test_host_override_cannot_expose_the_development_key(
    served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert served == []
    error = capsys.readouterr().err
    assert "development key" in error and "loopback" in error


def test_the_cli_exits_non_zero_on_a_public_host_with_the_development_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    env.update(PYTHONPATH=str(ROOT), CONSENTRY_DB_PATH=str(tmp_path / "ledger.db"))
    done = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "development key may only be used on a loopback address" in done.stderr


def test_host_and_port_overrides_reach_the_server(served: list[dict[str, Any]]) -> None:
    assert cli.main(["serve", "--host", "::1", "--port", "9123"]) == 0
    assert served[0]["host"] == "::1" and served[0]["port"] == 9123


def test_command_line_beats_the_environment(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTRY_HOST", "0.0.0.0")
    assert cli.main(["serve", "--host", "127.0.0.1"]) == 0
    assert served[0]["host"] == "127.0.0.1"


def test_a_public_host_is_fine_with_configured_apps(served: list[dict[str, Any]], tmp_path: Path) -> None:
    config = tmp_path / "consentry.yaml"
    config.write_text(yaml.safe_dump({"apps": {"backend": {"key": "a-real-key-0123456789"}}}))
    assert cli.main(["serve", "--config", str(config), "--host", "0.0.0.0", "--port", "8443"]) == 0
    assert served[0]["host"] == "0.0.0.0" and served[0]["port"] == 8443


# --- scan ----------------------------------------------------------------------------------------


@pytest.fixture()
def shared_detector(monkeypatch: pytest.MonkeyPatch, detector: PresidioDetector) -> PresidioDetector:
    # The session's loaded detector stands in for the one scan_texts would load.
    monkeypatch.setattr(detection, "PresidioDetector", lambda *args, **kwargs: detector)
    return detector


TEXTS = [
    "Call Olga Petrova on +1 415 555 0133",
    "nothing here",
    "card 4111 1111 1111 1111, mail ada@example.com",
]


def test_scan_writes_what_scan_texts_finds(
    shared_detector: PresidioDetector, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps({"text": t}) for t in TEXTS) + b"\n\n")
    assert cli.main(["scan", "--jsonl", str(source)]) == 0
    lines = [orjson.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    expected = [
        [[s.start, s.end, s.entity_type, round(s.score, 4)] for s in sorted(spans)]
        for spans in scan_texts(TEXTS)
    ]
    got = [[[r["start"], r["end"], r["entity_type"], r["score"]] for r in line["spans"]] for line in lines]
    assert got == expected
    assert any(got) and got[1] == []


def test_scan_texts_streams(shared_detector: PresidioDetector) -> None:
    pulled = 0

    def texts() -> Iterator[str]:
        nonlocal pulled
        for i in range(SCAN_BATCH * 3):
            pulled += 1
            yield f"line {i}"

    found = scan_texts(texts())
    next(found)
    assert pulled <= SCAN_BATCH + 1, "the input must be read batch by batch, not all at once"
    assert len(list(found)) == SCAN_BATCH * 3 - 1


@pytest.mark.parametrize(
    ("line", "message"),
    [(b"not json Olga", "line 2 is not JSON"), (b'{"txt": "Olga"}', "line 2 has no string 'text' field")],
)
def test_scan_reports_a_bad_line_without_quoting_it(
    shared_detector: PresidioDetector,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    line: bytes,
    message: str,
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"text": "fine"}\n' + line + b"\n")
    assert cli.main(["scan", "--jsonl", str(source)]) == 2
    captured = capsysbinary.readouterr()
    assert message.encode() in captured.err and b"Olga" not in captured.err
    assert b"Olga" not in captured.out


def test_scan_of_a_missing_file_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["scan", "--jsonl", str(tmp_path / "absent.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
