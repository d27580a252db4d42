"""Cutting a request into jobs: every job bounded, whatever the input; pieces cover the text with
overlaps; the per-request text budget counts what detection will do."""

from __future__ import annotations

from itertools import pairwise

import pytest

from proxy.detection.plan import (
    CORE_CHARS,
    PIECE_CHARS,
    SEGMENT_COST_CHARS,
    SPLIT_OVERLAP,
    plan_jobs,
    split_text,
    text_cost,
)

ENTITIES = ["PERSON", "EMAIL_ADDRESS"]
SPACY_MAX_LENGTH = 1_000_000


def covered(text: str, pieces: list[tuple[int, str]]) -> None:
    for offset, piece in pieces:
        assert text[offset : offset + len(piece)] == piece
    assert pieces[0][0] == 0 and pieces[-1][0] + len(pieces[-1][1]) == len(text)
    for (a, first), (b, _) in pairwise(pieces):
        assert a + len(first) - b >= SPLIT_OVERLAP, "neighbouring pieces must overlap"


@pytest.mark.parametrize(
    "text",
    [
        ("Line with Jane Doe and an address.\n" * 400)[:14000],
        "word " * 20_000,
        "x" * 25_000,  # no white space to cut at
    ],
)
def test_pieces_cover_the_text_with_overlaps_and_stay_bounded(text: str) -> None:
    pieces = split_text(text)
    covered(text, pieces)
    assert max(len(piece) for _, piece in pieces) <= PIECE_CHARS
    assert len(pieces) >= len(text) // CORE_CHARS


def test_short_text_is_one_piece() -> None:
    assert split_text("short") == [(0, "short")]
    exactly = "a" * PIECE_CHARS
    assert split_text(exactly) == [(0, exactly)]


def test_no_job_is_ever_larger_than_a_piece_even_for_huge_inputs() -> None:
    # Larger than spaCy's own limit: admitted input must never reach it, and no worker's memory
    # grows with the size of a request.
    huge = "Please call Jane Doe tomorrow about the contract. " * 25_000
    assert len(huge) > SPACY_MAX_LENGTH
    for spread in (1, 2, 8):
        jobs = plan_jobs([huge, "hello", "jane@example.com"], ENTITIES, True, spread)
        assert max(job.chars for job in jobs) <= PIECE_CHARS
        assert max(len(t) for job in jobs for t in job.texts) <= PIECE_CHARS


def test_many_short_segments_are_packed_into_few_jobs() -> None:
    segments = [f"message {i} from jane{i}@example.com" for i in range(500)]
    jobs = plan_jobs(segments, ENTITIES, True)
    assert sum(len(job.texts) for job in jobs) == 500
    assert len(jobs) <= -(-sum(map(len, segments)) // PIECE_CHARS) + 1
    assert sorted(index for job in jobs for index, _ in job.origins) == list(range(500))


def test_an_idle_pool_gets_a_long_text_spread_over_its_workers() -> None:
    text = "The quarterly numbers look fine and nothing else is notable here. " * 60
    assert len(plan_jobs([text], ENTITIES, True, spread=1)) == 2  # bounded pieces only
    spread = plan_jobs([text], ENTITIES, True, spread=4)
    assert len(spread) >= 4
    assert max(job.chars for job in spread) < PIECE_CHARS


def test_text_cost_counts_unique_segments_and_their_number() -> None:
    assert text_cost(["abc", "abc", "de"]) == 5 + 2 * SEGMENT_COST_CHARS
    assert text_cost([]) == 0
