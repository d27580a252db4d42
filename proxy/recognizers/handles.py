"""User handles and mentions (USER_HANDLE): "@maria_lopez", "@okafor-dev", "@jo@fosstodon.org".
The span is the name after the `@` ("maria_lopez", "jo@fosstodon.org"); the `@` stays in clear.

A handle names one person on a platform as surely as their name does, so it is an entity of its
own (masked by the default rules like every type without its own action). Shapes, from the
platforms' public help pages: X/Twitter and Telegram `[A-Za-z0-9_]`, GitHub letters, digits and
single hyphens, Slack and Instagram also dots; Mastodon and the fediverse `@user@instance.tld`.

What an `@` is when it is no handle, and how this module tells:
- an e-mail address: a word character right before the `@` ("maria@example.com"); a fediverse
  handle `@user@host` is emitted with a lower score than Presidio's e-mail address, so where the
  e-mail recognizer also matches, the overlap is an e-mail (`transform.resolve_overlaps`);
- decorators and annotations: followed by `(` or `.name(` ("@app.route('/')"), alone on a line
  before a definition ("@dataclass\\nclass"), a well-known decorator, annotation, doc-comment tag
  or CSS/Sass at-rule name ("@Override", "@param", "@media", "@import"), or a PascalCase name in a
  text that looks like code ("@SpringBootApplication");
- npm scopes and paths: followed by `/` ("@types/node", "@angular/core"); host names
  ("@example.com", "@db.internal": tldextract's public-suffix snapshot and private suffixes) and
  the host part of a URL with credentials ("postgres://app:***@db");
- Slack's group mentions "@here", "@channel", "@everyone"; times and prices ("@5pm", "@3.50");
- anything inside inline code or a fenced code block.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers.results import scored_result

ENTITY = "USER_HANDLE"

# No word character, `@`, `/`, `.`, `+` or `-` right before: "maria@x.org", "a/@b", "x.@y" are not mentions.
_MENTION = re.compile(
    r"(?<![\w@/.+\-])@(?P<user>[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,38}[A-Za-z0-9_])?)"
    r"(?P<instance>@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+)?"
)



def _words(text: str) -> frozenset[str]:
    return frozenset(text.casefold().split())


GROUP_MENTIONS = _words("here channel everyone all room oncall")

# Names after `@` in code and markup: Python decorators, Java/Kotlin/C#/Swift/TypeScript
# annotations, JSDoc/Javadoc/PHPDoc tags, CSS/Sass/Less at-rules, Razor/Blade directives.
CODE_NAMES = _words(
    """
    dataclass property staticmethod classmethod abstractmethod override overload cache lru_cache
    cached_property wraps contextmanager asynccontextmanager total_ordering singledispatch final
    runtime_checkable fixture setter getter deleter validator field_validator model_validator root_validator
    jit njit vectorize task shared_task receiver login_required app router api bp blueprint pytest mock
    patch functools abc typing dataclasses contextlib click torch tf st celery admin register
    Deprecated SuppressWarnings FunctionalInterface SafeVarargs Test Before After BeforeEach AfterEach
    BeforeAll AfterAll BeforeClass AfterClass Autowired Component Service Repository Controller
    RestController RequestMapping GetMapping PostMapping PutMapping DeleteMapping PatchMapping
    PathVariable RequestParam RequestBody ResponseBody Bean Configuration Entity Table Column Id
    GeneratedValue Transactional Value Inject Named Singleton Nullable NonNull Nonnull NotNull Data
    Getter Builder Slf4j JsonProperty JsonIgnore Serializable Parcelize Composable Preview
    JvmStatic JvmField JvmOverloads Throws Volatile Synchronized Suppress Keep Injectable NgModule
    Input Output HostListener HostBinding ViewChild Directive Pipe Entry Mock InjectMocks Spy
    param arg argument return returns throws throw exception type typedef prop template see since
    author version example link inheritdoc callback module exports namespace private public
    protected async yields yield var method class constructor memberof enum const abstract
    readonly static summary description remarks todo fixme note deprecated internal package
    media import font-face keyframes supports charset page layer container tailwind apply use
    forward include mixin extend if else each for function while content error warn debug at-root
    screen variants config plugin theme custom-media custom-variant utility source
    interface implementation end synthesize protocol optional required objc selector
    autoreleasepool escaping available main MainActor State Binding Published ObservedObject
    EnvironmentObject Environment StateObject discardableResult IBOutlet IBAction testable
    model using section foreach code functions extends csrf auth guest props endif endforeach
    endsection yield livewire vite click submit input change keyup keydown
    """
)
# Private and reserved name suffixes (RFC 2606/6761: test, example, invalid, localhost); public
# ones come from tldextract's bundled public-suffix snapshot.
_PRIVATE_SUFFIXES = _words(
    "local localdomain internal intranet lan corp home svc cluster arpa localhost test example invalid"
)
# A definition on the next line makes a line holding only "@name" a decorator.
_DEFINITION_NEXT = re.compile(
    r"[ \t]*(?:@|def |async |class |public |private |protected |internal |static |final |abstract |"
    r"override |open |fun |func |function |export |void |var |val |let |const |get |set |"
    r"[A-Za-z_][\w<>\[\], ]*[ \t]+[A-Za-z_]\w*[ \t]*\()"
)
_CODE_SIGNALS = re.compile(r"[{};]\s*$|\bdef |\bclass |^\s*import |=>|\bpublic |\breturn\b", re.MULTILINE)
_PASCAL = re.compile(r"[A-Z][a-z0-9]+[A-Z]")


class UserHandleRecognizer(EntityRecognizer):
    """USER_HANDLE: `@name` mentions (X, GitHub, Slack, Instagram) and fediverse `@user@host`."""

    SCORE = 0.8
    SCORE_FEDIVERSE = 0.7  # below an e-mail address: where both match, the e-mail is what it is

    def __init__(self, supported_language: str = "en", name: str = "ConsentryUserHandleRecognizer") -> None:
        super().__init__(supported_entities=[ENTITY], supported_language=supported_language, name=name)

    def load(self) -> None:
        _public_suffixes()  # read the suffix snapshot at start-up, not on the first dotted mention

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if (entities and ENTITY not in entities) or "@" not in text:
            return []
        code_spans = _code_spans(text) if "`" in text else []
        looks_like_code: bool | None = None  # computed once, only if a PascalCase name needs it
        results = []
        for m in _MENTION.finditer(text):
            user = m.group("user")
            if any(start <= m.start() < end for start, end in code_spans) or not _handle_shaped(user):
                continue
            if m.group("instance") is None and _code_use(text, m):
                continue
            if _PASCAL.match(user):
                if looks_like_code is None:
                    looks_like_code = _CODE_SIGNALS.search(text) is not None
                if looks_like_code:
                    continue  # "@SpringBootApplication" in a pasted class
            score = self.SCORE if m.group("instance") is None else self.SCORE_FEDIVERSE
            # the name after the `@`: the sign is no personal data and keeps the mention readable
            results.append(self._result(m.start("user"), m.end(), score))
        return results

    def _result(self, start: int, end: int, score: float) -> RecognizerResult:
        return scored_result(self, start, end, score, "User handle or mention")


def _handle_shaped(user: str) -> bool:
    """Not a group mention, a time or price ("@5pm", "@3.50"), a code name or a domain."""
    if len(user) < 2 or user[0].isdigit() or user.casefold() in GROUP_MENTIONS:
        return False
    parts = user.split(".")
    if any(p.casefold() in CODE_NAMES for p in parts):
        return False
    return len(parts) == 1 or not _domain(user)


def _domain(name: str) -> bool:
    """ "@example.com", "@db.internal": a host name after a blank, not a handle ("@marlo.vance")."""
    last = name.rsplit(".", 1)[-1].casefold()
    return last in _PRIVATE_SUFFIXES or bool(_public_suffixes()(name).suffix)


@functools.cache
def _public_suffixes():  # type: ignore[no-untyped-def]
    import tldextract  # a dependency of presidio-analyzer; the snapshot, never the network

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _code_use(text: str, m: re.Match[str]) -> bool:
    """A decorator or path: "@name(" / "@a.b(", "@scope/pkg", or alone on its line before a definition."""
    after = text[m.end() : m.end() + 1]
    if after in ("(", "/"):
        return True
    word_start = max(text.rfind(" ", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
    if "://" in text[word_start : m.start()]:
        return True  # the host of a URL with a user and password: "scheme://user:***@db"
    line_start = text.rfind("\n", 0, m.start()) + 1
    line_end = text.find("\n", m.end())
    if text[line_start : m.start()].strip() or (line_end != -1 and text[m.end() : line_end].strip()):
        return False
    if line_end == -1:
        return False
    next_end = text.find("\n", line_end + 1)
    next_line = text[line_end + 1 : next_end if next_end != -1 else len(text)]
    return _DEFINITION_NEXT.match(next_line) is not None


_FENCE = re.compile(r"^[ \t]*(?:```|~~~)", re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]+`")


def _code_spans(text: str) -> list[tuple[int, int]]:
    """Fenced code blocks (an unclosed fence runs to the end) and inline code."""
    spans = []
    fences = [m.start() for m in _FENCE.finditer(text)]
    for k in range(0, len(fences), 2):
        spans.append((fences[k], fences[k + 1] if k + 1 < len(fences) else len(text)))
    spans += [(m.start(), m.end()) for m in _INLINE_CODE.finditer(text)]
    return spans
