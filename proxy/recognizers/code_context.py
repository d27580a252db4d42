"""Is a span code rather than prose? Shared evidence for the recognizers that read natural language.

Prompts to AI providers carry code, stack traces, logs and cluster output. spaCy's small English
model reads them as prose: `product_id` becomes a place, `512Mi` a person, `30s` a date. Two
questions answer most of it:

- `inside_identifier`: the span is (part of) one code token - glued to digits or underscores
  ("Mi" of "512Mi", "warehouse_id"), a dotted or called name (`request.get_json`, `fib(25`), an
  inner-capital compound (`CrashLoopBackOff`, `GraphQL`). A person's name or a place is never
  spelled that way in prose; a username is, but that is not what the NER spans are.
- `in_code`: the span stands in code - between backticks, in a fenced block, or on a line that
  reads as code or as a log/trace line (keywords, assignments, calls, SQL, a log level, a
  timestamp at the start). There, quasi-identifiers (dates, places, nationalities) need more
  evidence than in prose.
- `in_data`: the span stands in a row of data (CSV, columns). That is not code: exports and
  query results are where names of people stand, so only token shapes count there.

Neither is ever a reason to drop a direct identifier: an e-mail address or a key in code is still
an e-mail address or a key. Callers use these only for NER quasi-identifiers and for the
shape of PERSON tokens.
"""

from __future__ import annotations

import re

# Surname and place prefixes that put a capital inside one word: "McAllen", "DeKalb", "LaSalle".
_NAME_PREFIX = re.compile(r"^(?:Mc|Mac|O'|D'|De|Di|Da|Du|Le|La|Van|Von|Fitz|St|Ben|Al|El)[A-Z]")
_INNER_CAPITAL = re.compile(r"[a-z][A-Z]")
# Characters that never appear in a name, a place or a date written in prose.
CODE_PUNCTUATION = frozenset("()[]{}<>=;*^|\\`$#@~+\u2248\u00d7\u00f7")  # and "≈", times, divide
# Digits with a letter suffix that prose writes too: "12th", "1980s", "3pm", a house number "16b",
# a floor and door "5ºD", "2ª" (NFKC, which detection reads, writes "5oD"), an hour "18h".
_NUMBER_WORD = re.compile(r"(?i)\d+(?:st|nd|rd|th|s|am|pm)|\d{1,4}[\u00ba\u00aa\u00b0oa]?[^\W\d_]?")
_WORD_CHAR = re.compile(r"[\w]")


def _word_around(text: str, start: int, end: int) -> str:
    """The maximal run of word characters (letters, digits, underscore) containing the span."""
    while start > 0 and _WORD_CHAR.match(text[start - 1]):
        start -= 1
    while end < len(text) and _WORD_CHAR.match(text[end]):
        end += 1
    return text[start:end]


def glued(text: str, start: int, end: int) -> bool:
    """The span is only part of a word: digits, letters or underscores touch it ("512Mi")."""
    before = start > 0 and _WORD_CHAR.match(text[start - 1]) is not None
    after = end < len(text) and _WORD_CHAR.match(text[end]) is not None
    return before or after


def identifier_word(word: str, camel_case: bool = True) -> bool:
    """A word spelled like an identifier: digits or underscores among letters, or camel case."""
    if not word:
        return False
    if "_" in word.strip("_") or word.startswith("__"):
        return True
    if _NUMBER_WORD.fullmatch(word):
        return False
    if any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
        return True
    return camel_case and _INNER_CAPITAL.search(word) is not None and _NAME_PREFIX.match(word) is None


# The word before a member access: "obj." right before the span.
_RECEIVER = re.compile(r"(\w+)\.\Z")
# Initials and titles written without a blank before the name: "J.Smith", "Dr.Smith".
_ABBREVIATIONS = frozenset("abcdefghijklmnopqrstuvwxyz") | {"mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr"}


def dotted_member(text: str, start: int, end: int) -> bool:
    """The span's word is a member access or a call: `obj.attr`, `.attr`, `name(`, `name::x`."""
    word_start, word_end = start, end
    while word_start > 0 and _WORD_CHAR.match(text[word_start - 1]):
        word_start -= 1
    while word_end < len(text) and _WORD_CHAR.match(text[word_end]):
        word_end += 1
    before = text[max(0, word_start - 2) : word_start]
    after = text[word_end : word_end + 2]
    receiver = _RECEIVER.search(text, max(0, word_start - 40), word_start)
    if receiver and receiver.group(1).casefold() not in _ABBREVIATIONS:
        return True  # "obj.attr"; not "J.Smith" or "Dr.Smith"
    if before.endswith("::") or after.startswith("::") or before.endswith("->"):
        return True
    if after[:1] in ("(", "["):
        return True  # a call, an index: "fib(", "rows["
    if after[:1] == "<" and "@" not in text[word_end : word_end + 60].split(">", 1)[0]:
        return True  # a generic type "Map<K, V>"; not "Ada Smith<ada@example.org>"
    if before.endswith("<") and after[:1] in (">", ","):
        return True  # a type argument: "Vec<String>"
    if before in ("(*", " &", "(&", "<&", "[&"):
        return True  # a pointer or reference type: "(*Server)", "&String"
    return after[:1] == "." and _WORD_CHAR.match(after[1:2] or " ") is not None


_TOKEN_PARTS = re.compile(r"[-_./:]")
_LETTERS = re.compile(r"[^\W\d_]{2,}")
# Parts of a dashed token that do not make it an identifier: "12-Mar-2024", "3-5pm".
_DATE_PARTS = frozenset(
    str.split("jan feb mar apr may jun jul aug sep sept oct nov dec am pm st nd rd th")
)


def compound_token(text: str, start: int, end: int) -> bool:
    """The span is (part of) one token joining letters and digits with dashes, dots or
    underscores: a resource or file name ("nightly-load-28503360", "db-2024-03-11.dump")."""
    if any(c.isspace() for c in text[start:end].strip()):
        return False
    token_start = start
    while token_start > 0 and not text[token_start - 1].isspace() and text[token_start - 1] not in "\"'`(,":
        token_start -= 1
    token_end = end
    while token_end < len(text) and not text[token_end].isspace() and text[token_end] not in "\"'`),":
        token_end += 1
    token = text[token_start:token_end].rstrip(".:;")
    parts = [p for p in _TOKEN_PARTS.split(token) if p]
    words = [p for p in parts if _LETTERS.fullmatch(p) and p.casefold() not in _DATE_PARTS]
    return bool(words) and any(c.isdigit() for c in token)


def inside_identifier(text: str, start: int, end: int, camel_case: bool = True) -> bool:
    """The span is a code token or part of one, judged on its own characters and neighbours.
    `camel_case=False` for names of people, who can be spelled "JoAnn" or "DeShawn"."""
    span = text[start:end]
    if any(c in CODE_PUNCTUATION for c in span) or compound_token(text, start, end):
        return True
    if glued(text, start, end) and identifier_word(_word_around(text, start, end), camel_case):
        return True
    words = re.findall(r"\w+", span)
    if any(identifier_word(w, camel_case) for w in words):
        return True
    return len(words) == 1 and dotted_member(text, start, end)


# ------------------------------------------------------------------------------- code context

_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
# Line starts that prose does not have (lower-case words like "let", "use", "type" or "return" do
# start sentences in chat, so only their code forms count, through _CODE_OPERATOR).
_CODE_KEYWORD = re.compile(
    r"^\s*(?:(?:def|fn|func)\s+\w+\s*[(<\[]|class\s+\w+\s*[(:{<]|import\s+[\w.{*]|from\s+[\w.]+\s+import\b|"
    r"impl\b|struct\s+\w+|#include|#define|#!/|@[\w.]+\(?|"
    r"(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|FROM|WHERE|JOIN|GROUP BY|ORDER BY|LIMIT|HAVING|"
    r"VALUES|RUN|COPY|CMD|ENTRYPOINT|WORKDIR|EXPOSE)\b)"
)
# A prompt character, a traceback frame, a stack-trace frame.
_SHELL_OR_TRACE = re.compile(
    r"^\s*(?:\$ |>>> |[\w.:-]+[>#] |at [\w$.<>]+[(:]|File \"|Traceback \(|Caused by: )"
    r"|.*\((?:integer|nil|error)\) "  # redis-cli replies
    r"|PS [^>\n]*> |(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40} "  # PowerShell, `git log --oneline`
    r"|(?i:warning|error|note|hint|fatal)(?:\[\w+\])?: "  # compiler and linter diagnostics
    r"|[-dlcbps][rwx-]{9}[.+@]?\s"  # `ls -l`
    r"|.*(?:[A-Za-z]:\\[\w.$-]+\\|(?:^|\s)/(?:[\w.-]+/)+[\w.-]+)"  # a Windows or Unix path
)
_LOG_LEVEL = re.compile(
    r"\b(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL)\b|\[(?:error|warn|info|debug|notice|crit)\]"
)
_LEADING_TIMESTAMP = re.compile(
    r"^\s*(?:\d{4}[-/]\d{2}[-/]\d{2}[T ]?\d{0,2}|\[?\d{2}:\d{2}:\d{2}|"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{2}:\d{2}:\d{2})"
)
_CODE_OPERATOR = re.compile(
    r"(?:^|\s)[\w.\[\]'\"]+\s*(?::\s*[\w\[\]|. ]+)?\s*(?:=|:=|\+=|-=|==|!=|=>)\s*\S"
    r"|\w\(.*\)|[{};]\s*$|\(\)|&&|\|\||\w::\w|\)\s*->|\w->\w|</?\w+[ >/]"
)
# "key: value" of YAML/config output: lower-case, dashed or dotted keys, or indented.
_CONFIG_KEY = re.compile(
    r"^\s*-?\s*[a-z]+[_.-][\w.-]*:(?:\s|$)|^(?:\s*-\s+|\s{2,})[A-Za-z][\w.-]*(?:\s\w+)?:(?:\s|$)"
)
_TABLE_ROW = re.compile(r"\S\s{3,}\S.*\s{3,}\S|^\s*\|.*\|\s*$|\S\t")
_COLUMN_GAP = re.compile(r" {2,}")
# A CSV row: three or more commas, none followed by a blank as in prose.
_CSV_ROW = re.compile(r"^[^,\s][^,\n]*(?:,(?! )[^,\n]*){3,}$")
# A command-line option: "--since", "--loglevel=INFO".
_CLI_OPTION = re.compile(r"(?:^|\s)--[a-z][\w-]+")


def line_of(text: str, start: int) -> str:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    return text[line_start : line_end if line_end >= 0 else len(text)]


def code_line(line: str) -> bool:
    """A line of program text: code, a shell session, a log or trace line, a config key."""
    if not line.strip():
        return False
    return bool(
        _CODE_KEYWORD.match(line)
        or _SHELL_OR_TRACE.match(line)
        or _LOG_LEVEL.search(line)
        or _LEADING_TIMESTAMP.match(line)
        or _CODE_OPERATOR.search(line)
        or _CONFIG_KEY.match(line)
        or _CLI_OPTION.search(line)
    )


def data_line(line: str) -> bool:
    """A row of data: CSV, tab- or pipe-separated, or columns aligned with spaces. Not code: rows
    of a users table or a CSV export are where names and dates of people stand."""
    return bool(line.strip()) and bool(_TABLE_ROW.search(line) or _CSV_ROW.match(line) or _columns(line))


def _columns(line: str) -> bool:
    """Tabular output: three or more columns set apart by runs of spaces ("NAME  READY  STATUS").
    Prose typed with two spaces after a full stop ends its pieces with punctuation."""
    cells = _COLUMN_GAP.split(line.strip())
    return len(cells) >= 3 and not any(cell.rstrip()[-1:] in ".!?" for cell in cells[:-1])


def in_backticks(text: str, start: int, end: int) -> bool:
    """Inside an inline `code` span on the same line, or inside a fenced block."""
    fences = sum(1 for m in _FENCE.finditer(text, 0, start))
    if fences % 2 == 1:
        return True
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    line_end = text.find("\n", end)
    after = text[end : line_end if line_end >= 0 else len(text)]
    return before.count("`") % 2 == 1 and "`" in after


def in_code(text: str, start: int, end: int) -> bool:
    """The span stands in code: backticks, a fenced block, or a line that reads as code."""
    return in_backticks(text, start, end) or code_line(line_of(text, start))


def in_data(text: str, start: int, end: int) -> bool:
    """The span stands in a row of data (see `data_line`)."""
    return data_line(line_of(text, start))
