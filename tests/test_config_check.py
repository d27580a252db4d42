"""`consentry check --config FILE`: every problem of the configuration and of the rules file it
names, each with its file and line; `consentry serve` refuses to start with the same messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxy import cli

BAD_CONFIG = """\
server:
  port: 8080
  wrokers: 2
ledger:
  retention_days: 1.5
apps:
  backend: {key: short}
providers:
  groq: {format: openai}
log_format: xml
colour: blue
rules: RULES
"""
BAD_RULES = """\
version: x
default:
  providers: [openai]
customers:
  acme:
    state: paused
  globex:
    actions: {PERSON: shred}
    thresholds: {PERSON: 2}
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CONSENTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CONSENTRY_DB_PATH", str(tmp_path / "ledger.db"))
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)


def files(tmp_path: Path, config: str = BAD_CONFIG, rules: str = BAD_RULES) -> tuple[Path, Path]:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(rules)
    config_file = tmp_path / "consentry.yaml"
    config_file.write_text(config.replace("RULES", str(rules_file)))
    return config_file, rules_file


def test_check_names_every_problem_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file, rules_file = files(tmp_path)
    assert cli.main(["check", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err.splitlines()
    c, r = str(config_file), str(rules_file)
    expected = [
        f"{c}:3: server.wrokers is not a known key",
        f"{c}:5: ledger.retention_days must be a whole number",
        f"{c}:7: apps.backend.key: proxy keys must be at least 16 characters",
        f"{c}:9: providers.groq needs a base_url",
        f"{c}:10: log_format must be 'json' or 'text'",
        f"{c}:11: colour is not a known key",
        f"{r}:6: customers.acme.state must be one of active, restricted, objected, withdrawn",
        f"{r}:8: customers.globex.actions.PERSON must be one of mask, redact, hash, allow, block",
    ]
    for line in expected:
        assert any(e.startswith(line) for e in err), (line, err)
    assert err[-1] == "consentry: 8 problems found"


def test_serve_refuses_with_the_same_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file, _ = files(tmp_path)
    cli.main(["check", "--config", str(config_file)])
    checked = capsys.readouterr().err.splitlines()[:-1]
    assert cli.main(["serve", "--config", str(config_file)]) == 2
    served = capsys.readouterr().err.splitlines()
    assert served == [f"consentry: configuration error: {line}" for line in checked]


def test_a_yaml_syntax_error_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file, _ = files(tmp_path, config="server:\n  port: 8080\n  host: [unclosed\nrules: RULES\n")
    assert cli.main(["check", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert f"{config_file}:" in err and "not valid YAML" in err


def test_a_valid_configuration_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good_rules = "version: v7\ndefault: {providers: [openai]}\ncustomers:\n  acme: {state: withdrawn}\n"
    config_file, _ = files(
        tmp_path,
        config=(
            "server: {port: 8080, workers: 2}\n"
            "apps: {backend: {key: a-long-enough-key-123}}\n"
            "rules: RULES\n"
        ),
        rules=good_rules,
    )
    assert cli.main(["check", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok:") and "version v7, 1 customers" in out


def test_a_rules_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, rules_file = files(tmp_path)
    assert cli.main(["check", "--rules", str(rules_file)]) == 2
    err = capsys.readouterr().err
    assert f"{rules_file}:6: customers.acme.state" in err
