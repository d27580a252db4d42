"""The normalised view detection reads, and the map from it back to the original characters.

Personal data slips past pattern recognizers when it is written with characters that look the
same but are not the ASCII ones the patterns expect: a phone number grouped with non-breaking or
narrow no-break spaces (what word processors and French/Swiss locales insert), full-width digits
and a full-width at sign U+FF20 (CJK input methods), a zero-width space or soft hyphen hidden inside an
e-mail address or a name (copy-paste from web pages, or deliberate evasion). Detection therefore
runs on a view of each segment where:

- every character is replaced by its NFKC form (Unicode Standard Annex #15): compatibility
  spaces (U+00A0, U+2000-U+200A, U+202F, U+205F, U+3000) become " ", full-width and other
  compatibility forms fold to their plain letters and digits, ligatures split, combining
  sequences compose;
- the non-breaking hyphens U+2010 and U+2011 become "-";
- invisible format characters are removed: zero-width space, joiners and word joiner (U+200B-
  U+200D, U+2060), byte-order mark (U+FEFF), soft hyphen (U+00AD), the direction marks and
  embeddings (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), invisible operators (U+2061-U+2064)
  and the Mongolian vowel separator (U+180E).

Masks must still cover the original characters, so the view comes with an `OffsetMap`. NFKC is
applied per *cluster* (a starter and the characters that may combine with it), not to the whole
text: every view character then comes from exactly one cluster, and a span of the view maps back
to the original range from its first character's cluster start to its last character's cluster
end. Removed characters between those clusters are inside that range, removed characters at its
edges are not, so a mask covers exactly the value's original characters. Because NFKC's
composition only joins a starter with following characters of that cluster, the view equals
NFKC of the whole text (with the folds above), except where a compatibility character's NFKC form
is itself a combining mark (the half-width katakana voicing marks): those stay uncomposed.

Cost: this runs on every segment. ASCII text (`str.isascii`, a C scan) and text that is already
NFKC and holds none of the removed characters come back unchanged with the identity map (about
0.1 us and 15 us per KB). Otherwise, without combining characters, each distinct changed character
is replaced with one `str.replace`, and the map records only the characters whose length changed
(removed or expanded): 20-50 us per KB. Text with combining sequences is normalised cluster by
cluster within its non-ASCII runs (a few hundred us per KB, rare). spaCy and the recognizers take
tens of milliseconds per KB, so the view adds well under 1%.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

# Characters NFKC keeps but the view folds: hyphens to "-", invisible format characters removed.
_FOLD: dict[int, str | None] = {
    0x2010: "-",
    0x2011: "-",  # NFKC maps U+2011 to U+2010; both listed so the table does not depend on order
    **dict.fromkeys(
        (0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
         0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF),
        None,
    ),
}  # fmt: skip
_FOLDED = re.compile("[" + "".join(chr(c) for c in _FOLD) + "]")

# A run of non-ASCII characters and the one character before it (a combining mark composes with
# the ASCII letter it follows). Everything outside these runs is already its own NFKC form.
_NON_ASCII_RUN = re.compile(r"[\x00-\x7f]?[^\x00-\x7f]+")

# Characters of canonical combining class 0 that still compose with the character before them
# (second halves of canonical decompositions, e.g. Tamil, Kannada, Malayalam vowel signs). Derived
# from unicodedata; tests/test_normalise.py recomputes the set so a newer Unicode cannot drift.
JOINS_PREVIOUS = frozenset(
    chr(c)
    for c in (0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E,
              0x0D57, 0x0DCF, 0x0DDF, 0x0FB5, 0x0FB7, 0x102E, 0x1B35, 0x11127, 0x1133E, 0x11357,
              0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930)
)  # fmt: skip
# Hangul vowel and trailing jamo compose algorithmically with the syllable or jamo before them.
_HANGUL_V_T = range(0x1161, 0x11C3)


class OffsetMap:
    """Where the characters of a view came from, as the units that did not stay one to one.

    Unit k is original[starts[k]:ends[k]], which became widths[k] view characters from view index
    view_starts[k]; every character between units maps to exactly one original character. Built
    and applied in time proportional to the number of units (bisect), not to the text's length.
    The identity map has no units.
    """

    __slots__ = ("ends", "original_length", "starts", "view_length", "view_starts", "widths")

    def __init__(self, units: Sequence[tuple[int, int, int]] = (), original_length: int = 0) -> None:
        self.view_starts: list[int] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.widths: list[int] = []
        self.original_length = original_length
        shift = 0  # view index minus original index, after the units seen so far
        for start, end, width in units:
            self.view_starts.append(start + shift)
            self.starts.append(start)
            self.ends.append(end)
            self.widths.append(width)
            shift += width - (end - start)
        self.view_length = original_length + shift

    @property
    def is_identity(self) -> bool:
        return not self.starts

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original range covering every character that produced view[start:end]."""
        if not self.starts:
            return start, end
        if not 0 <= start <= end <= self.view_length:
            raise ValueError("span outside the view")
        if start == end:  # an empty span stays empty, before the character there
            position = self.original_length if start == self.view_length else self._character(start)[0]
            return position, position
        return self._character(start)[0], self._character(end - 1)[1]

    def _character(self, index: int) -> tuple[int, int]:
        """The original range of view character `index`."""
        k = bisect_right(self.view_starts, index) - 1
        if k < 0:
            return index, index + 1
        past_unit = index - self.view_starts[k] - self.widths[k]
        if past_unit < 0:
            return self.starts[k], self.ends[k]
        position = self.ends[k] + past_unit
        return position, position + 1


IDENTITY = OffsetMap()


def normalise(text: str) -> tuple[str, OffsetMap]:
    """The detection view of `text` and the map from the view's offsets back to `text`'s."""
    if text.isascii() or (unicodedata.is_normalized("NFKC", text) and not _FOLDED.search(text)):
        return text, IDENTITY
    distinct = [char for char in set(text) if not char.isascii()]
    if any(_combines(char) for char in distinct):
        return _normalise_clusters(text)
    changed = {char: out for char in distinct if (out := _fold(char)) != char}
    # No character combines with its neighbour, so NFKC is per character: one replace per distinct
    # character (str.replace is far faster than a translate table on text of any length).
    view = text
    for char, out in changed.items():
        view = view.replace(char, out)
    resized = "".join(char for char, out in changed.items() if len(out) != 1)
    if not resized:  # same length (spaces, full-width forms): same offsets
        return view, IDENTITY
    units = [
        (found.start(), found.end(), len(changed[found.group()]))
        for found in re.finditer("[" + re.escape(resized) + "]", text)
    ]
    return view, OffsetMap(units, len(text))


@lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    return unicodedata.normalize("NFKC", char).translate(_FOLD)


def _combines(char: str) -> bool:
    """Whether `char` may combine with the character before it under NFKC."""
    return bool(unicodedata.combining(char)) or char in JOINS_PREVIOUS or ord(char) in _HANGUL_V_T


def _normalise_clusters(text: str) -> tuple[str, OffsetMap]:
    """Text with combining sequences: NFKC per cluster, each output character mapped to its cluster."""
    parts: list[str] = []
    units: list[tuple[int, int, int]] = []
    copied = 0
    for run in _NON_ASCII_RUN.finditer(text):
        run_start, run_end = run.span()
        parts.append(text[copied:run_start])
        for start, end in _clusters(text, run_start, run_end):
            out = unicodedata.normalize("NFKC", text[start:end]).translate(_FOLD)
            parts.append(out)
            if end - start != 1 or len(out) != 1:
                units.append((start, end, len(out)))
        copied = run_end
    parts.append(text[copied:])
    return "".join(parts), OffsetMap(units, len(text))


def _clusters(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """text[start:end] cut before every character that cannot combine with the one before it."""
    bounds = [start]
    for index in range(start + 1, end):
        if not _combines(text[index]):
            bounds.append(index)
    bounds.append(end)
    return list(pairwise(bounds))
