"""`consentry consent|records|audit ...`: the admin API's operations from a shell, on the same
stores as the running proxy, audited as `cli:<user>`."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import yaml

from proxy import cli
from proxy.admin.exports import COLUMNS
from proxy.ledger.sqlite import SqliteLedger
from proxy.metrics import Metrics
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, TEST_RULES, ProxyFactory, free_port
from tests.fakes.server import BackgroundServer
from tests.ledger_backends import record


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(TEST_RULES))
    config = {
        "rules": str(rules),
        "ledger": {"path": str(tmp_path / "ledger.db")},
        "hash_key": "cli-hash-key",
        "admin": {"port": free_port()},
    }
    path = tmp_path / "consentry.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    try:
        parsed = orjson.loads(out) if out.strip() else None
    except orjson.JSONDecodeError:
        parsed = out
    return code, parsed, err


def seed_records(path: Path, customer: str, count: int) -> None:
    async def write() -> None:
        ledger = SqliteLedger(path, Metrics(), flush_interval_s=0.0)
        await ledger.start()
        for n in range(count):
            ledger.submit(record(n, customer=customer))
        ledger.submit(record(99, customer="someone-else"))
        assert await ledger.flush()
        await ledger.close()

    asyncio.run(write())


def test_consent_commands(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ("--customer", "cli-c1", "--config", str(config_file))
    code, view, _ = run(capsys, "consent", "show", *c)
    assert code == 0 and view["source"] == "default" and view["stored"] is None
    code, view, _ = run(
        capsys, "consent", "set", *c, "--json", '{"providers": ["azure"], "state": "restricted"}'
    )
    assert code == 0 and view["effective"]["providers"] == ["azure"] and view["stored"]["version"] == 1
    assert view["stored"]["updated_by"].startswith("cli:")
    code, view, _ = run(capsys, "consent", "withdraw", *c)
    assert code == 0 and view["effective"]["state"] == "withdrawn"
    code, view, _ = run(capsys, "consent", "reactivate", *c)
    assert view["effective"]["state"] == "active"
    code, view, _ = run(capsys, "consent", "patch", *c, "--json", '{"providers": null}', "--if-match", "3")
    assert code == 0 and "providers" not in view["stored"]["document"]
    code, _, err = run(capsys, "consent", "patch", *c, "--json", '{"state": "objected"}', "--if-match", "1")
    assert code == 3 and "version 4" in err
    code, history, _ = run(capsys, "consent", "history", *c)
    assert [h["action"] for h in history["history"]] == ["patch", "reactivate", "withdraw", "set"]
    code, _, err = run(capsys, "consent", "set", *c, "--json", '{"state": "gone"}')
    assert code == 2 and "state" in err
    code, _, err = run(capsys, "consent", "set", *c, "--json", "{nope")
    assert code == 2 and "not valid JSON" in err
    code, _, err = run(capsys, "consent", "show", "--customer", "a b", "--config", str(config_file))
    assert code == 2 and "invalid customer id" in err


def test_records_export_summary_erase_and_audit(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_records(tmp_path / "ledger.db", "cli-c2", 7)
    base = ("--config", str(config_file))
    out = tmp_path / "export.csv"
    code, _, err = run(
        capsys, "records", "export", "--customer", "cli-c2", "--format", "csv", "--output", str(out), *base
    )
    assert code == 0 and "8 lines" in err
    table = list(csv.reader(io.StringIO(out.read_text())))
    assert tuple(table[0]) == COLUMNS and len(table) == 8
    code, lines, _ = run(capsys, "records", "export", "--customer", "cli-c2", *base)
    assert code == 0 and len(lines.splitlines()) == 7
    assert all(orjson.loads(line)["customer_id"] == "cli-c2" for line in lines.splitlines())
    code, summary, _ = run(capsys, "records", "summary", "--customer", "cli-c2", *base)
    assert summary["total"] == 7 and summary["by_provider"]["openai"]["records"] == 7
    code, everyone, _ = run(capsys, "records", "summary", *base)
    assert everyone["total"] == 8
    code, _, err = run(capsys, "records", "erase", "--customer", "cli-c2", *base)
    assert code == 2 and "--confirm" in err
    code, erased, _ = run(capsys, "records", "erase", "--customer", "cli-c2", "--confirm", "cli-c2", *base)
    assert code == 0 and erased["erased"]["sharing_records"] == 7
    code, summary, _ = run(capsys, "records", "summary", "--customer", "cli-c2", *base)
    assert summary["total"] == 0
    code, _, _ = run(capsys, "audit", "export", *base)
    assert code == 0
    code = cli.main(["audit", "export", "--output", str(tmp_path / "audit.jsonl"), *base])
    events = [orjson.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    actions = [(e["action"], e["outcome"]) for e in events]
    assert ("customer.erase", "ok") in actions and ("records.export", "ok") in actions
    assert ("customer.erase", "invalid") not in actions  # the unconfirmed erase never reached the store
    assert all(e["actor"].startswith("cli:") for e in events)
    assert b"cli-c2" not in (tmp_path / "audit.jsonl").read_bytes()


@pytest.fixture()
def upstream_url(openai_upstream: BackgroundServer) -> Iterator[str]:
    yield openai_upstream.url + "/v1"


def test_a_withdrawal_from_the_shell_reaches_the_running_proxy(
    make_proxy: ProxyFactory, upstream_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = make_proxy(
        {"openai": {"base_url": upstream_url, "api_key": OPENAI_UPSTREAM_KEY}},
        extra={"consent": {"check_interval_s": 0.1}},
    )
    config_file = tmp_path / "same-stores.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "rules": proxy.config.rules_path,
                "ledger": {"path": proxy.config.ledger.path},
                "hash_key": proxy.config.hash_key.decode(),
                "admin": {"port": free_port()},
            }
        )
    )
    client = openai.OpenAI(
        base_url=f"{proxy.url}/c/cli-live/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )
    messages = [{"role": "user", "content": "hello"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    code, _, _ = run(capsys, "consent", "withdraw", "--customer", "cli-live", "--config", str(config_file))
    assert code == 0
    deadline = time.monotonic() + 5
    while True:
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        except openai.PermissionDeniedError as refused:
            assert "consent_withdrawn" in str(refused.body)
            break
        assert time.monotonic() < deadline, "the proxy never saw the withdrawal"
        time.sleep(0.05)


def test_a_failing_command_says_so_in_one_line_and_is_audited(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--config", str(config_file))
    missing = tmp_path / "no-such-dir" / "export.jsonl"
    code, _, err = run(capsys, "records", "export", "--customer", "cli-c3", "--output", str(missing), *base)
    assert code == 1 and err.startswith("consentry: ") and "Traceback" not in err
    assert "cli-c3" not in err
    out = tmp_path / "audit.jsonl"
    assert cli.main(["audit", "export", "--output", str(out), *base]) == 0
    assert cli.main(["audit", "export", "--output", str(out), *base]) == 0
    actions = [(e["action"], e["outcome"]) for e in map(orjson.loads, out.read_text().splitlines())]
    assert ("records.export", "failed") in actions
    # Reading the audit trail is an admin action too, as it is through the API.
    assert ("audit.export", "ok") in actions
