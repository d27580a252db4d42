"""E-mail addresses written so that an e-mail pattern does not see them.

People (and scraping-averse web pages) write addresses as "john dot smith at gmail dot com",
"jane(at)example(dot)org", "jane [at] example [dot] org", "name AT domain DOT com", "ada underscore
lovelace at ...", or put spaces around the at sign ("john.smith @ gmail.com") or before a dot
("ada@example .org"). Presidio's EmailRecognizer needs the plain `local@domain.tld` form; this
recognizer finds the written forms and returns the whole written form as the span. Plain
addresses are left to Presidio. (Full-width at signs, zero-width spaces inside an address and the
like are handled earlier: detection reads a normalised view, see `proxy.normalise`.)

Precision comes from the domain and from the words used:
- the domain must end in a real top-level domain: one of the 2-letter country codes or a short
  list of generic ones, all present in the public-suffix list snapshot bundled with tldextract
  (the tests check that). Code-file extensions that are also country codes (py, rs, md, sh) are
  not accepted, so "main dot py" stays text. The domain ends at its last such label, so the words
  after an address are not swallowed; a full stop followed by a space is never a dot;
- separators in brackets ("(at)", "[dot]"), in capitals ("AT", "DOT") and an at sign with spaces
  are deliberate and enough; a spelled lower-case "at" ("meet me at the station dot") needs more:
  no pronoun, article or common verb as a part ("look at this dot com bubble"), and one of: a
  separator or digit inside the local part ("john dot smith"), a well-known mail provider as the
  domain, or an e-mail word shortly before ("email", "contact", "write to"). A top-level domain
  that is also an English function word after a spelled "dot" ("this dot in") needs that
  evidence too, whatever the separators;
- an at sign with spaces is refused in a line of code (an assignment or statement on the line, a
  call or index right after): `x = a @ self.data` is a matrix product. It never spans a line
  break (decorators).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers.results import scored_result

ENTITY = "EMAIL_ADDRESS"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


COUNTRY_TLDS = _words(
    """
    ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb be bf bg bh bi bj bm bn bo br bs bt bv
    bw by bz ca cc cd cf cg ch ci cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg es et
    eu fi fj fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id
    ie il im in io iq ir is it je jo jp ke kg ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv
    ly ma mc md me mg mh mk ml mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no nr nu
    nz om pa pe pf ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl
    sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy
    uz va vc ve vg vi vn vu wf ws ye yt zm zw
    """
)
GENERIC_TLDS = _words(
    """
    com org net edu gov mil int info biz name pro mobi app dev asia email online tech xyz site cloud
    digital company solutions agency studio design media group team systems network services
    consulting law legal health care clinic bank finance insurance shop store club life family
    school academy university london berlin paris wien nyc amsterdam swiss bayern koeln hamburg
    """
)
# Country codes that are far more often file extensions in prompts about code.
_CODE_EXTENSIONS = frozenset({"py", "rs", "md", "sh"})
TLDS = (COUNTRY_TLDS | GENERIC_TLDS) - _CODE_EXTENSIONS

# Country codes that are English function words: after a spelled "dot" they need other evidence.
_WORD_TLDS = frozenset({"am", "an", "as", "at", "be", "by", "do", "go", "if", "in", "is", "it", "me",
                        "my", "no", "of", "on", "or", "so", "to", "up", "us"})  # fmt: skip
# Words that are a sentence around a spelled "at"/"dot", not parts of an address.
_PROSE_WORDS = _words(
    """
    a an the this that these those it its me you him her us them we they i he she one my your our
    their his here there where what who which look looking looked looks meet meeting met arrive
    arrived arriving be is are was were been being am stay stayed staying work working home least
    most all once first last best noon night midnight time times point end start top bottom same
    least sea school church
    """
)
_MAIL_PROVIDERS = _words(
    """
    gmail googlemail yahoo ymail hotmail outlook icloud aol protonmail proton gmx yandex zoho
    fastmail posteo tutanota mailbox hey bluewin t-online freenet web libero virgilio tiscali
    orange wanadoo laposte sfr seznam wp onet interia o2 btinternet sky virgin ziggo telenet skynet
    sunrise bigpond rediffmail qq 163 126 naver daum mail
    """
)
_MAIL_WORDS = re.compile(
    r"\b(?:e-?mail|mail|mailto|inbox|address|adresse|contact|kontakt|write|reach|send|cc|bcc|correo|"
    r"courriel|scrivi|schreib|escrib|écri)\w*\b",
    re.IGNORECASE,
)
_CODE_AROUND = re.compile(r"[={};]")
_CALLED = re.compile(r"[(\[]|\.\w")

_AT = (
    r"(?P<at>[ \t]*[(\[{<][ \t]*(?i:at)[ \t]*[)\]}>][ \t]*"  # (at) [at] {at} <at>
    r"|[ \t]*@[ \t]*"  # at sign, with spaces (without, it is a plain address)
    r"|\s+(?:at|AT)\s+)"  # spelled
)
_DOT = (
    r"(?:[ \t]*[(\[{<][ \t]*(?i:dot)[ \t]*[)\]}>][ \t]*"
    r"|\s+(?:dot|DOT)\s+"
    r"|\.(?=[A-Za-z0-9])"  # a literal dot inside the name, not a full stop before a space
    r"|[ \t]+\.[ \t]*(?=[A-Za-z0-9]))"  # a space before a dot: never a full stop
)
# Only inside the local part: "ada underscore lovelace".
_LOCAL_SEPARATOR = rf"(?:{_DOT}|\s+(?:underscore|UNDERSCORE|dash|DASH|hyphen|HYPHEN)\s+)"
_LOCAL_ATOM = r"[A-Za-z0-9](?:[A-Za-z0-9_%+\-]*[A-Za-z0-9])?"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_NOT_AFTER = r"(?<![\w.@%+\-'\u2019])"
_CANDIDATE = re.compile(
    rf"{_NOT_AFTER}(?P<local>{_LOCAL_ATOM}(?:{_LOCAL_SEPARATOR}{_LOCAL_ATOM})*){_AT}"
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL})+)(?![\w@])"
)
_DOT_SEPARATOR = re.compile(_DOT)
# The local part read backwards from the at (the match then checks it forwards).
_ATOM_BEFORE = re.compile(r"(?<![A-Za-z0-9_%+\-])" + _LOCAL_ATOM + r"\Z")
_SEPARATOR_BEFORE = re.compile(
    r"(?:[ \t]*[(\[{<][ \t]*(?i:dot)[ \t]*[)\]}>][ \t]*|[ \t]*\."
    r"|\s+(?:dot|DOT|underscore|UNDERSCORE|dash|DASH|hyphen|HYPHEN)\s+)\Z"
)
_LOCAL_SEPARATORS = re.compile(_LOCAL_SEPARATOR)
_LOCAL_WORDS = re.compile(_LOCAL_SEPARATOR + r"|[_%+\-]")
_SPELLED = frozenset({"at", "dot", "underscore", "dash", "hyphen"})
# Cheap anchors first: an at sign or word, followed by something shaped like a domain. Only
# around those is the full pattern searched (it is tried at every word start, too slow for all text).
_AT_TOKEN = re.compile(r"@|\b(?i:at)\b")
_DOMAIN_AHEAD = re.compile(rf"(?:[ \t]*[)\]}}>])?\s*{_LABEL}{_DOT}{_LABEL}")
_LONGEST_LOCAL = 120  # characters before the at a local part may start
_LONGEST_DOMAIN = 400
_BRACKETED = re.compile(r"[(\[{<]")


class ObfuscatedEmailRecognizer(EntityRecognizer):
    """E-mail addresses with spelled, bracketed or spaced separators; the whole written form."""

    def __init__(
        self, supported_language: str = "en", name: str = "ConsentryObfuscatedEmailRecognizer"
    ) -> None:
        super().__init__(supported_entities=[ENTITY], supported_language=supported_language, name=name)

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and ENTITY not in entities:
            return []
        found: list[RecognizerResult] = []
        position = 0  # text before it is taken by an address already found
        for token in _AT_TOKEN.finditer(text):
            if token.start() < position or not _DOMAIN_AHEAD.match(text, token.end()):
                continue
            window_end = min(len(text), token.end() + _LONGEST_DOMAIN)
            # The longest local part that makes an address through this very at.
            for local_start in _local_starts(
                text, token.start(), max(position, token.start() - _LONGEST_LOCAL)
            ):
                match = _CANDIDATE.match(text, local_start, window_end)
                if match is None or not match.start("at") <= token.start() < match.end("at"):
                    continue
                address = _address(text, match)
                if address is not None:
                    end, score = address
                    found.append(scored_result(self, match.start(), end, score, "written-out e-mail address"))
                    position = end
                    break
        return found


def _local_starts(text: str, at: int, limit: int) -> list[int]:
    """Where a local part ending just before the at separator at `at` may start, leftmost (longest)
    first: parsed backwards, atom by atom, so its cost is the local part's length."""
    end = at
    while end > limit and text[end - 1] in " \t\r\n([{<":
        end -= 1
    starts: list[int] = []
    while end > limit:
        atom = _ATOM_BEFORE.search(text, max(limit, end - 64), end)
        if atom is None:
            break
        starts.append(atom.start())
        separator = _SEPARATOR_BEFORE.search(text, max(limit, atom.start() - 24), atom.start())
        if separator is None:
            break
        end = separator.start()
    return starts[::-1]


def _address(text: str, match: re.Match[str]) -> tuple[int, float] | None:
    """Where the address of a candidate ends (its domain cut after the last real TLD) and its
    score, or None when the candidate is not an obfuscated address."""
    at, local = match.group("at"), match.group("local")
    labels: list[tuple[int, int]] = []  # the domain's labels, as (start, end) in text
    separators: list[str] = []
    label_start = match.start("domain")
    for separator in _DOT_SEPARATOR.finditer(text, label_start, match.end("domain")):
        labels.append((label_start, separator.start()))
        separators.append(separator.group())
        label_start = separator.end()
    labels.append((label_start, match.end("domain")))
    domain_labels = [text[start:end].lower() for start, end in labels]
    # The last real TLD; a function word after a spelled "dot" only if no other TLD comes before.
    tlds = [k for k in range(len(labels) - 1, 0, -1) if domain_labels[k] in TLDS]
    plain = [k for k in tlds if not _word_tld(domain_labels[k], separators[k - 1])]
    if not tlds:
        return None
    last = plain[0] if plain else tlds[0]
    domain_labels = domain_labels[: last + 1]
    written = [at, *separators[:last], *_LOCAL_SEPARATORS.findall(local)]
    if all(separator in (".", "@") for separator in written):
        return None  # a plain address: Presidio's recognizer finds it
    if "@" in at and _code_around(text, match.start(), labels[last][1]):
        return None
    spelled = [s.strip() for s in written if s.strip().lower() in _SPELLED]
    if spelled:
        words = [*_LOCAL_WORDS.split(local), *domain_labels[:-1]]  # the TLD was checked above
        if any(word.lower() in _PROSE_WORDS for word in words):
            return None
    deliberate = "@" in at or any(_BRACKETED.search(s) for s in written) or any(s.isupper() for s in spelled)
    needs_evidence = not deliberate or not plain
    if needs_evidence and not _mail_evidence(text, match.start(), local, domain_labels[0]):
        return None
    return labels[last][1], 0.9 if deliberate else 0.75


def _word_tld(label: str, separator_before: str) -> bool:
    return separator_before.strip() == "dot" and label in _WORD_TLDS


def _code_around(text: str, start: int, end: int) -> bool:
    """An assignment or statement on the same line, or a call or index right after: code."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    rest = text[end : len(text) if line_end < 0 else line_end]
    return bool(
        _CODE_AROUND.search(text[line_start:start]) or _CODE_AROUND.search(rest) or _CALLED.match(rest)
    )


def _mail_evidence(text: str, start: int, local: str, first_label: str) -> bool:
    """A lower-case spelled "at" reads as prose unless something else says e-mail."""
    if _LOCAL_SEPARATORS.search(local) or any(c.isdigit() or c == "_" for c in local):
        return True
    if first_label in _MAIL_PROVIDERS:
        return True
    return bool(_MAIL_WORDS.search(text, max(0, start - 60), start))
