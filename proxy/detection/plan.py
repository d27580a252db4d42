"""How one request's text is cut into jobs for the workers (pure code, no I/O).

Every job is bounded: at most PIECE_CHARS characters, however long the request. That bounds a
worker's memory (spaCy's grows with the length of one text: a 500 KB piece took a worker to
1 GB), keeps every piece far below spaCy's own 1,000,000-character limit, and bounds how long a
small request can wait behind a large one for a free worker (about one piece). A long segment is
cut into overlapping pieces, cut at white space, whose spans are merged back; short segments are
packed together into jobs up to the same bound.

While workers are idle, a request is also spread over them (shorter pieces, or NER and the
pattern recognizers side by side) for latency; under load every job is as large as allowed,
which gives the most requests per second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from proxy.analysis import NER_ENTITIES

# CPU time per character measured on the reference machine (one core, en_core_web_sm, pieces of
# PIECE_CHARS): prose 35 us, text dense with personal data 70 us, phone numbers 94 us, and the
# slowest found, digits separated by spaces (the phone recognizer tries every run of them), 230 us.
# So a piece takes 0.1 s (prose) to 0.7 s (the slowest text), and a small request behind it waits
# at most that long for a worker.
PIECE_CHARS = 3000
# One core gets through at least this much of the slowest text per second: the per-request budget
# (`detection.max_chars`) defaults to what fits the deadline at this speed.
WORST_CASE_CHARS_PER_S = 4000
SPLIT_OVERLAP = 160  # each piece reaches this far into its neighbours, so no entity is cut in two
CORE_CHARS = PIECE_CHARS - 2 * SPLIT_OVERLAP  # what a piece covers besides its overlaps
SPLIT_MIN_CHARS = 768  # below this, spreading over idle workers costs more than a second core saves
SPLIT_PIECE_CHARS = 384  # no piece is cut shorter than this
# What a segment costs beyond its characters: Presidio runs every recognizer per segment, about
# 1.3-2 ms even for one word, the time of ~20 characters of text.
SEGMENT_COST_CHARS = 24


def text_cost(segments: Sequence[str]) -> int:
    """A request's detection work in characters, for the per-request budget (`max_chars`).

    Repeated segments count once: they are analysed once.
    """
    unique = set(segments)
    return sum(len(text) for text in unique) + SEGMENT_COST_CHARS * len(unique)


@dataclass
class Job:
    """One call to one worker: texts (whole segments or pieces of one) and what to look for."""

    entities: list[str]
    use_ner: bool
    texts: list[str] = field(default_factory=list)
    origins: list[tuple[int, int]] = field(default_factory=list)  # (segment index, offset of the text)
    chars: int = 0

    def add(self, index: int, offset: int, text: str) -> None:
        self.texts.append(text)
        self.origins.append((index, offset))
        self.chars += len(text)


def split_text(text: str, core_chars: int = CORE_CHARS) -> list[tuple[int, str]]:
    """(offset, piece) pairs covering `text`: each piece covers at most `core_chars` of its own,
    cut at a line break or space where one is near, plus SPLIT_OVERLAP on each side."""
    core_chars = max(core_chars, SPLIT_PIECE_CHARS)
    if len(text) <= core_chars + 2 * SPLIT_OVERLAP:
        return [(0, text)]
    cuts = [0]
    while len(text) - cuts[-1] > core_chars:
        ideal = cuts[-1] + core_chars
        lowest = ideal - core_chars // 4
        space = text.rfind("\n", lowest, ideal)
        if space == -1:
            space = text.rfind(" ", lowest, ideal)
        cuts.append(space + 1 if space != -1 else ideal)
    cuts.append(len(text))
    out: list[tuple[int, str]] = []
    for start, end in pairwise(cuts):
        lo = max(0, start - SPLIT_OVERLAP)
        hi = min(len(text), end + SPLIT_OVERLAP)
        out.append((lo, text[lo:hi]))
    return out


def plan_jobs(texts: Sequence[str], needed: list[str], use_ner: bool, spread: int = 1) -> list[Job]:
    """The jobs for one request; `spread`: how many idle workers it may be spread over."""
    total = sum(len(text) for text in texts)
    spread = max(1, spread) if total >= SPLIT_MIN_CHARS else 1
    short = {i for i, text in enumerate(texts) if len(text) < SPLIT_MIN_CHARS}
    short_chars = sum(len(texts[i]) for i in short)
    ner_needed = [e for e in needed if e in NER_ENTITIES]
    rest_needed = [e for e in needed if e not in NER_ENTITIES]
    # Short segments cannot be cut usefully: the NER model and the pattern recognizers run on them
    # side by side in two workers instead.
    side_by_side = spread >= 2 and use_ner and bool(short and ner_needed and rest_needed)
    side_by_side = side_by_side and short_chars <= PIECE_CHARS
    jobs: list[Job] = []
    if side_by_side:
        on_ner, on_rest = Job(ner_needed, True), Job(rest_needed, False)
        for index in sorted(short):
            on_ner.add(index, 0, texts[index])
            on_rest.add(index, 0, texts[index])
        jobs.extend((on_ner, on_rest))
    core = CORE_CHARS if spread < 2 else min(CORE_CHARS, -(-total // spread))
    pieces = [
        (index, offset, piece)
        for index, text in enumerate(texts)
        if not (side_by_side and index in short)
        for offset, piece in split_text(text, core)
    ]
    return jobs + _pack(pieces, needed, use_ner, spread)


def _pack(pieces: list[tuple[int, int, str]], needed: list[str], use_ner: bool, spread: int) -> list[Job]:
    """Longest piece first onto the least loaded job with room; a new job when none has room."""
    buckets = [Job(needed, use_ner) for _ in range(min(spread, len(pieces)))]
    for index, offset, piece in sorted(pieces, key=lambda p: -len(p[2])):
        roomy = [job for job in buckets if job.chars + len(piece) <= PIECE_CHARS or not job.texts]
        if not roomy:
            buckets.append(Job(needed, use_ner))
            roomy = buckets[-1:]
        min(roomy, key=lambda job: job.chars).add(index, offset, piece)
    return [job for job in buckets if job.texts]
