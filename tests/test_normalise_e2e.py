"""Values written with odd spaces, full-width forms or invisible characters: found on the normalised
view, masked over exactly their original characters, through the offline scan and through the proxy."""

from __future__ import annotations

import json

import pytest

from models.spans import Span
from proxy import detection
from proxy.detection import PresidioDetector, scan_texts
from tests.conftest import ProxyHarness
from tests.fakes.server import Recorder
from tests.test_openai_e2e import client, proxy, upstream  # noqa: F401  (fixtures reused)

NBSP, NNBSP, THIN, ZWSP, SHY = "\u00a0", "\u202f", "\u2009", "\u200b", "\u00ad"


@pytest.fixture()
def shared_detector(monkeypatch: pytest.MonkeyPatch, detector: PresidioDetector) -> PresidioDetector:
    # The session's loaded detector stands in for the one scan_texts would load.
    monkeypatch.setattr(detection, "PresidioDetector", lambda *args, **kwargs: detector)
    return detector


def covering(spans: list[Span], entity_type: str) -> list[tuple[int, int]]:
    return sorted((s.start, s.end) for s in spans if s.entity_type == entity_type)


CASES = [
    ("Please call me on ", f"+41{NBSP}44{NBSP}668{NBSP}18{NBSP}00", " tomorrow.", "PHONE_NUMBER"),
    ("Phone: ", f"+33{NNBSP}1{NNBSP}42{NNBSP}68{NNBSP}53{NNBSP}00", "", "PHONE_NUMBER"),
    ("ring ", f"+44{THIN}20{THIN}7946{THIN}0958", " after lunch", "PHONE_NUMBER"),
    (
        "Tel. ",
        "\uff0b\uff14\uff11 \uff14\uff14 \uff16\uff16\uff18 \uff11\uff18 \uff10\uff10",
        " (office)",
        "PHONE_NUMBER",
    ),
    ("mail ", "oskar.lind\uff20example.se", " today", "EMAIL_ADDRESS"),
    ("mail ", f"oskar.li{ZWSP}nd@exam{ZWSP}ple.se", " today", "EMAIL_ADDRESS"),
    ("write to ", "oskar dot lind at gmail dot com", " please", "EMAIL_ADDRESS"),
    ("contact ", "oskar.lind @ example.se", " please", "EMAIL_ADDRESS"),
]


@pytest.mark.parametrize(("before", "value", "after", "entity_type"), CASES)
def test_scan_masks_exactly_the_original_characters(
    shared_detector: PresidioDetector, before: str, value: str, after: str, entity_type: str
) -> None:
    text = before + value + after
    [spans] = list(scan_texts([text]))
    assert (len(before), len(before) + len(value)) in covering(spans, entity_type)


def test_a_soft_hyphen_inside_a_name_is_covered(shared_detector: PresidioDetector) -> None:
    text = f"Please send the forms to Mar{SHY}garet Thornbury today."
    [spans] = list(scan_texts([text]))
    start = text.index("Mar")
    assert any(
        s.start <= start and s.end >= text.index("Thornbury") for s in spans if s.entity_type == "PERSON"
    )


def test_text_without_odd_characters_is_scanned_as_before(shared_detector: PresidioDetector) -> None:
    text = "Call Olga Petrova on +1 415 555 0133"
    [spans] = list(scan_texts([text]))
    assert (text.index("+1"), len(text)) in covering(spans, "PHONE_NUMBER")


# ------------------------------------------------------------------------------ through the proxy

PHONE = f"+41{NBSP}44{NBSP}668{NBSP}18{NBSP}00"
EMAIL = f"oskar.li{ZWSP}nd@example.se"
PROMPT = f"Please call {PHONE} or write to {EMAIL} about the order."


def upstream_prompts(recorder: Recorder) -> list[str]:
    return [
        message["content"]
        for request in recorder.requests
        for message in json.loads(request.body)["messages"]
        if message["role"] == "user"
    ]


def test_proxy_masks_odd_characters_upstream_and_restores_them_exactly(
    proxy: ProxyHarness,  # noqa: F811
    upstream: Recorder,  # noqa: F811
) -> None:
    answer = client(proxy).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
    )
    [seen] = upstream_prompts(upstream)
    assert seen == "Please call <PHONE_NUMBER_1> or write to <EMAIL_ADDRESS_1> about the order."
    raw = upstream.all_bytes()
    for part in ("668", "oskar", "example.se", "nd@"):
        assert part.encode() not in raw
    assert answer.choices[0].message.content == "Echo: " + PROMPT
