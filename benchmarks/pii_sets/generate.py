"""Write the evaluation sets of benchmarks/pii_sets/ (one function per set, fixed seeds).

    python -m benchmarks.pii_sets.generate            # all sets
    python -m benchmarks.pii_sets.generate eu chat    # some
    python -m benchmarks.pii_sets.generate --check    # exit 1 if a committed file differs

Each set is a JSONL file next to this module in the format of shared.jsonl: one object per line,
`{"text", "spans": [{"start", "end", "entity_type", "value", "subtype"?}], "locale"?, "kind"}`.
Values come from Faker (seeded per set), the generators in `ids.py` and `secrets_set.py`, and
`random.Random` with the seed named in each module; running this again writes the same bytes for
the same Faker version (the committed files were made with Faker 40.x). Some Faker providers
(it_IT cities) pick from sets, whose order follows string hashing, so the script re-runs itself
with PYTHONHASHSEED=0 to stay reproducible.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from benchmarks.pii_sets import chat, eu, obfuscated, secrets_set
from benchmarks.pii_sets.common import SET_DIR, to_jsonl, write_jsonl
from benchmarks.pii_sets.technical_prompts import PROMPTS


def eu_set() -> list[dict]:
    return eu.generate()


def secrets_rows() -> list[dict]:
    return secrets_set.generate()


def chat_set() -> list[dict]:
    return chat.generate()


def obfuscated_set() -> list[dict]:
    return obfuscated.generate()


def technical_set() -> list[dict]:
    return [{"text": text, "spans": [], "locale": "en", "kind": "technical"} for text in PROMPTS]


SETS: dict[str, Callable[[], list[dict]]] = {
    "eu": eu_set,
    "secrets": secrets_rows,
    "chat": chat_set,
    "obfuscated": obfuscated_set,
    "technical": technical_set,
}


def main(argv: list[str]) -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(
            sys.executable,
            [sys.executable, "-m", "benchmarks.pii_sets.generate", *argv],
            {**os.environ, "PYTHONHASHSEED": "0"},
        )
    check = "--check" in argv
    names = [a for a in argv if a != "--check"] or list(SETS)
    stale = []
    for name in names:
        rows = SETS[name]()
        if check:
            if (SET_DIR / f"{name}.jsonl").read_bytes() != to_jsonl(rows):
                stale.append(name)
            continue
        path = write_jsonl(name, rows)
        print(f"{path.name}: {len(rows)} rows, {sum(len(r['spans']) for r in rows)} spans")
    if stale:
        print("differ from the generator:", ", ".join(stale))
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
