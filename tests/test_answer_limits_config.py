"""The answer limits: a global `limits:` section, a provider's own `limits:` over it, and the
values refused at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy.config import AnswerLimits, ConfigError, parse_config

ENV = {"CONSENTRY_HASH_KEY": "test-hash-key-0123456789"}
MiB = 1024 * 1024


def config(tmp_path: Path, **raw: Any) -> Any:
    return parse_config({"ledger": {"path": str(tmp_path / "ledger.db")}, **raw}, env=ENV)


def test_defaults_leave_normal_answers_alone(tmp_path: Path) -> None:
    limits = config(tmp_path).provider("openai").limits
    assert limits == AnswerLimits()
    assert limits.max_answer_bytes == 64 * MiB and limits.max_event_bytes == 16 * MiB
    # Reasoning models can think silently well past 30 s mid-stream: the idle bound stays where
    # the old per-read timeout put it, and an hour of streaming is far beyond any answer.
    assert limits.stream_idle_timeout_s == 120.0 and limits.max_stream_s == 3600.0


def test_a_provider_section_overrides_the_global_one_key_by_key(tmp_path: Path) -> None:
    loaded = config(
        tmp_path,
        limits={"stream_idle_timeout_s": 30, "max_answer_bytes": 32 * MiB},
        providers={"gemini": {"limits": {"stream_idle_timeout_s": 90, "max_event_bytes": MiB}}},
    )
    assert loaded.limits == AnswerLimits(max_answer_bytes=32 * MiB, stream_idle_timeout_s=30)
    assert loaded.provider("openai").limits == loaded.limits
    assert loaded.provider("gemini").limits == AnswerLimits(
        max_answer_bytes=32 * MiB, max_event_bytes=MiB, stream_idle_timeout_s=90
    )
    assert loaded.provider("not-configured").limits == loaded.limits


def test_a_small_answer_bound_lowers_the_event_bound_it_did_not_set(tmp_path: Path) -> None:
    limits = config(tmp_path, providers={"openai": {"limits": {"max_answer_bytes": MiB}}}).provider("openai")
    assert limits.limits.max_answer_bytes == limits.limits.max_event_bytes == MiB


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"max_stream_s": 0}, "must be positive"),
        ({"stream_idle_timeout_s": -1}, "must be positive"),
        ({"max_answer_bytes": "lots"}, "must be a number"),
        ({"max_answer_bytes": True}, "must be a number"),
        ({"max_event_bytes": 1.5}, "whole number"),
        ({"max_answer_bytes": MiB, "max_event_bytes": 2 * MiB}, "cannot exceed"),
        ({"idle_timeout": 5}, "unknown keys"),
        (["max_stream_s"], "must be a mapping"),
    ],
)
def test_bad_limits_are_refused_at_start(tmp_path: Path, section: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, limits=section)
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, providers={"bedrock": {"limits": section}})
