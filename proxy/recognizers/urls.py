"""URLs, and not the identifiers of code that look like host names.

A URL is personal data because it can carry identifiers (a profile path, a user name in a host, a
token in a query), so Consentry masks it. Presidio's UrlRecognizer matches any "word.tld" with a
TLD from a long list and cuts inside words, so in code it masks `app.ro` of `app.route`,
`items.red`, `tasks.py` (.ro, .red and .py are TLDs). This recognizer replaces it:

- a URL with a scheme (http, https, ftp, ws, wss, ...) or a `www.` host is a URL, unless its host
  is the loopback (`localhost`, `127.0.0.1`, `[::1]`: it names a machine, no one) or a bare
  service name with nothing after it (`proxy_pass http://api;`);
- a bare host ("mail.google.com", "example.org/path") is a URL only if it is a whole token, its
  last label is a real TLD (the public-suffix snapshot that tldextract ships), and it does not read
  as code: no member access or call around it (`a.b.c(`, `.x`, `x[`), no camel case or capitals
  inside, not a file name (`main.rs`, `deploy.sh`; `bit.ly/x` is a link), not a member whose
  name is a TLD (`user.id`, `items.red`, `obj.style`: such TLDs need a path after the host), not
  a receiver like `self.` or `this.`, not a YAML key (`nginx.ingress.kubernetes.io/body-size:`),
  not a Go import or module path (`require golang.org/x/sync v0.6.0`) and not a container image or
  module reference with its tag (`docker pull ghcr.io/org/api:1.4.2`, `image: quay.io/x/app:2`).
  Such references name a public package; a URL with a scheme is masked even there.

Sources: RFC 3986 (URI syntax), RFC 1123 (host names), the Public Suffix List as bundled in
`tldextract`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from urllib.parse import unquote_plus

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers.results import scored_result

ENTITY = "URL"

_SCHEMES = (
    r"(?:https?|ftps?|sftp|wss?|git|ssh|svn|file|s3|gs|rtsp|smb|nfs|ldaps?|rediss?|amqps?|"
    r"mongodb(?:\+srv)?|postgres(?:ql)?|mysql|jdbc:\w+)"
)
_URL_CHARS = r"[^\s<>\"'`{}|\\^]"
_SCHEME_URL = re.compile(rf"(?<![\w.-])(?:[a-z]+\+)?{_SCHEMES}://{_URL_CHARS}+", re.IGNORECASE)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_URL = re.compile(
    rf"(?<![\w.@/\\$:#%&?~+-])(?P<host>(?:{_LABEL}\.)+(?P<tld>[A-Za-z]{{2,63}}))(?![\w-])"
    rf"(?P<port>:\d{{2,5}}(?![\w.]))?(?P<path>[/?#]{_URL_CHARS}*)?"
)
_TRAILING = ".,;:!?'\""
_LOOPBACK = re.compile(
    r"^(?:localhost|[\w-]+\.localhost|127(?:\.\d{1,3}){3}|0\.0\.0\.0|\[::1?\])$", re.IGNORECASE
)
_SCHEME_HOST = re.compile(r"^[^:]+://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)(?::\d*)?(.*)$", re.DOTALL)

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# TLDs that are also the extensions of files people paste names of: a URL only with a path.
FILE_EXTENSION_TLDS = _words("py rs sh md pl pm so cc mk tf ps am la ly ml in zip mov pt ts rb")
# TLDs that are also member names in code ("user.id", "items.red"): a host ending in one of these
# is a URL only with a path after it. Every TLD longer than three letters that is not below is
# treated the same way ("obj.style", "user.email", "self.host").
MEMBER_NAME_TLDS = _words(
    "id it is to at by do as no me my us on be so an or if go run red new app dev top one win fit fun"
    " bar car art map"
)
WEB_TLDS = _words(
    "com org net edu gov mil int info biz io co ai dev app cloud online site tech xyz blog shop store"
    " news page wiki"
)
# Receivers of member access that are never hosts.
CODE_RECEIVERS = _words(
    """
    self this cls super os sys np pd tf torch math json re ctx req res request response obj item
    items user data config args kwargs opts options props state err error event app router db
    client console window document module exports process fmt log logger http path str list dict
    """
)
_IMPORT_LINE = re.compile(
    r"^\s*(?:(?:import|require|module|replace|use)\s+(?:\(\s*)?(?:[\w.]+\s+)?|[\w.]+\s+)?(?P<q>\"?)"
    r"(?P<path>[^\s\"]+)(?P=q)(?:\s+v\d\S*)?\s*(?:=>.*)?(?://.*)?$"
)
_VERSION_AFTER = re.compile(r"^\s+v\d+\.\d+")
# Commands and keys that take a package or container image reference, not a link.
_PACKAGE_COMMAND = re.compile(
    r"(?:\bgo\s+(?:get|install|run)\b|\b(?:docker|podman|nerdctl|crictl|skopeo)\s+(?:pull|push|run|tag|inspect)\b"
    r"|^\s*FROM\b|\bimage:|--image[= ]|\bimport\b|\brequire\b)[^\n]*$"
)
# An image tag or digest, a module version: "ghcr.io/org/api:1.4.2", "...@sha256:...", "...@latest".
_REFERENCE_SUFFIX = re.compile(r"(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64}|@[\w.^~-]+)$")


@functools.cache
def real_tlds() -> frozenset[str]:
    """Top-level labels of the Public Suffix List snapshot bundled with tldextract (no network)."""
    from proxy.analysis import make_tldextract_offline

    make_tldextract_offline()
    import tldextract.tldextract as tld_module

    return frozenset(s.rsplit(".", 1)[-1].casefold() for s in tld_module.TLD_EXTRACTOR.tlds)


def _trim(text: str, start: int, end: int) -> int:
    """Drop sentence punctuation after a URL, and a closing bracket it did not open."""
    while end > start:
        last = text[end - 1]
        opener = "(" if last == ")" else "["
        unopened = last in ")]" and text.count(opener, start, end) < text.count(last, start, end)
        if last not in _TRAILING and not unopened:
            break
        end -= 1
    return end


# Hosts where the first path segment is an account ("linkedin.com/in/jane-doe", "github.com/jdoe").
_PROFILE_HOSTS_TEXT = """
    linkedin.com facebook.com fb.com x.com twitter.com instagram.com github.com gitlab.com
    tiktok.com youtube.com medium.com reddit.com t.me wa.me vk.com xing.com threads.net bsky.app
    pinterest.com tumblr.com flickr.com soundcloud.com behance.net dribbble.com about.me
"""
_PROFILE_HOSTS = frozenset(_PROFILE_HOSTS_TEXT.split())
# Code hosts: one segment is an account, two are a repository ("github.com/psf/requests").
_CODE_HOSTS = frozenset({"github.com", "gitlab.com"})
# Their pages that name no one.
_SITE_PAGES_TEXT = """
    about login signup join settings help docs features pricing explore search topics trending
    jobs legal privacy terms policies company blog marketplace sponsors orgs enterprise apps api
    watch results hashtag home notifications messages i intent share sharer feed
"""
_SITE_PAGES = frozenset(_SITE_PAGES_TEXT.split())
# Path segments that introduce an account on any host ("/users/jdoe", "/@jane", "/~jdoe").
_ACCOUNT_PATH = re.compile(
    r"/(?:@[\w.-]+|~[\w.-]+|(?:in|pub|u|user|users|profile|profiles|people|member|members|author|authors)/[\w.%-]+)",
    re.IGNORECASE,
)
# Query parameters that carry who someone is.
_ACCOUNT_QUERY = re.compile(r"[?&](?:user(?:name|_?id)?|uid|email|e-?mail|login|name|account)=[^&#\s]+", re.I)


def names_an_account(url: str) -> bool:
    """Whether a URL points at a person or a private resource: a profile on a social, code or
    scheduling host, a personal site (`jane.github.io`), an account path (`/users/x`, `/@x`,
    `/~x`), an account in its query (`?email=`, `?user=`), an e-mail address or a phone number
    anywhere in it once decoded (`%40`, `+44...`), a place on a map, a document shared by link (a
    capability URL: whoever has it can read it), or a path word that is a given name and no
    English word (`passport_scan_john_smith.jpg`, `calendly.com/jane-doe`)."""
    decoded = unquote_plus(url)
    if _ACCOUNT_PATH.search(decoded) or _ACCOUNT_QUERY.search(decoded):
        return True
    rest = re.sub(r"^[a-z][\w+.-]*://", "", decoded, flags=re.I)
    host, _, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].casefold().removeprefix("www.").removeprefix("m.")
    if "@" in path or _PHONE_IN_URL.search(path) or host.endswith(_PERSONAL_SITE_SUFFIXES):
        return True
    if any(host == h or host.endswith("." + h) for h in _PRIVATE_LINK_HOSTS) or _MAP_PLACE.search(decoded):
        return True
    segments = [seg for seg in path.split("?", 1)[0].split("#", 1)[0].split("/") if seg]
    if _names_in_path(path):
        return True
    if host not in _PROFILE_HOSTS or not segments or segments[0].casefold() in _SITE_PAGES:
        return False
    return host not in _CODE_HOSTS or len(segments) == 1


def _names_in_path(path: str) -> bool:
    from proxy.recognizers.names import english_vocabulary, first_names

    names, english = first_names(), english_vocabulary().words
    words = [w.casefold() for w in _PATH_WORD.findall(path)]
    return any(len(w) >= 3 and names.get(w, 0) >= _COMMON_NAME and w not in english for w in words)


# Hosts whose subdomains are people's own sites.
_PERSONAL_SITE_SUFFIXES = (
    ".github.io", ".gitlab.io", ".substack.com", ".wordpress.com", ".blogspot.com", ".medium.com",
    ".tumblr.com", ".bsky.social", ".carrd.co",
)  # fmt: skip
# Documents, files and meetings shared by link: the URL is the key to a private resource.
_PRIVATE_LINK_HOSTS = (
    "docs.google.com", "drive.google.com", "dropbox.com", "dl.dropboxusercontent.com", "1drv.ms",
    "onedrive.live.com", "sharepoint.com", "wetransfer.com", "we.tl", "box.com", "icloud.com",
    "zoom.us", "meet.google.com", "teams.microsoft.com", "calendly.com", "cal.com", "linktr.ee",
    "paypal.me", "venmo.com", "cash.app", "wa.me",
)  # fmt: skip
_MAP_PLACE = re.compile(
    r"(?i)(?:maps\.google\.[a-z.]+|google\.[a-z.]+/maps|maps\.apple\.com|openstreetmap\.org)"
    r"\S*(?:/place/|[?&](?:q|query|address|daddr|saddr)=)"
)
_PHONE_IN_URL = re.compile(r"(?:^|[=/:])\+?\d[\d().-]{8,}\d")
_PATH_WORD = re.compile(r"[^\W\d_]+")
_COMMON_NAME = 4  # nam_dict frequency class: a name people actually have, not a rare spelling


class CodeAwareUrlRecognizer(EntityRecognizer):
    """URL: scheme or www URLs, and bare host names that are not code (see the module doc). Not
    named UrlRecognizer: Presidio's registry loader finds recognizer classes by class name."""

    SCORE_SCHEME = 0.6
    SCORE_BARE = 0.5
    # A URL that names an account scores above the bundled rules' URL threshold (0.8); others below
    # it: a link to documentation or an API endpoint is no one's personal data.
    SCORE_ACCOUNT = 0.85

    def __init__(self, supported_language: str = "en", name: str = "ConsentryUrlRecognizer") -> None:
        super().__init__(supported_entities=[ENTITY], supported_language=supported_language, name=name)

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and ENTITY not in entities:
            return []
        results: list[RecognizerResult] = []
        taken: list[tuple[int, int]] = []
        for m in _SCHEME_URL.finditer(text):
            end = _trim(text, m.start(), m.end())
            taken.append((m.start(), end))
            url = text[m.start() : end]
            if names_an_account(url):
                results.append(self._result(m.start(), end, self.SCORE_ACCOUNT, "URL of an account"))
            elif self._names_someone(url):
                results.append(self._result(m.start(), end, self.SCORE_SCHEME, "URL with a scheme"))
        for m in _HOST_URL.finditer(text):
            if any(s <= m.start() < e for s, e in taken):
                continue
            end = _trim(text, m.start(), m.end())
            www = m.group("host").casefold().startswith("www.")
            if www or self._bare_host_is_url(text, m, end):
                if names_an_account(text[m.start() : end]):
                    score, reason = self.SCORE_ACCOUNT, "URL of an account"
                else:
                    score, reason = (self.SCORE_SCHEME, "www host") if www else (self.SCORE_BARE, "host name")
                results.append(self._result(m.start(), end, score, reason))
        return results

    @staticmethod
    def _names_someone(url: str) -> bool:
        """Every URL may carry an identifier, except one on the loopback host or a bare service
        name with nothing after it."""
        m = _SCHEME_HOST.match(url)
        if m is None:
            return True
        host, rest = m.group(1), m.group(2)
        if _LOOPBACK.match(host):
            return False
        return "." in host or rest.strip("/") != ""

    def _bare_host_is_url(self, text: str, m: re.Match[str], end: int) -> bool:
        host, tld = m.group("host"), m.group("tld").casefold()
        labels = host.split(".")
        has_path = bool(m.group("path")) and end > m.end("host") + len(m.group("port") or "") + 1
        if tld not in real_tlds() or (tld in FILE_EXTENSION_TLDS and not has_path):
            return False  # "deploy.sh"; "bit.ly/3xYz" is a link
        if any(c.isupper() for label in labels[1:] for c in label) or _camel(labels[0]):
            return False
        if labels[0][:1].isupper() and tld not in WEB_TLDS:
            return False  # "Cargo.toml", "Deployment.apps"
        if len(labels) == 2 and labels[0].casefold() in CODE_RECEIVERS:
            return False
        if not has_path and (tld in MEMBER_NAME_TLDS or (len(tld) > 3 and tld not in WEB_TLDS)):
            return False
        after = text[end : end + 2]
        if after[:1] in ("(", "[", "=") or after == "::" or (after[:1] == "." and after[1:2].isalnum()):
            return False  # a call, an index, an assignment, a longer member chain
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", end)
        line = text[line_start : line_end if line_end >= 0 else len(text)]
        before = text[line_start : m.start()]
        if after[:1] == ":" and not text[end + 1 : end + 2].isdigit() and before.strip(" -") == "":
            return False  # a YAML key: "nginx.ingress.kubernetes.io/proxy-body-size: 50m"
        if has_path and _PACKAGE_COMMAND.search(before) and _REFERENCE_SUFFIX.search(text[m.start() : end]):
            return False  # `docker pull ghcr.io/org/api:1.4.2`, `go get golang.org/x/tools@latest`
        return not (has_path and self._package_path(line, text[m.start() : end], text[end:]))

    @staticmethod
    def _package_path(line: str, url: str, after: str) -> bool:
        """A Go import or module path on a line of its own (`require golang.org/x/sync v0.6.0`,
        `"github.com/org/pkg"` in an import block), not a link."""
        if _VERSION_AFTER.match(after):
            return True
        m = _IMPORT_LINE.match(line)
        if m is None or m.group("path") != url:
            return False
        keyword = line.lstrip().split(" ", 1)[0]
        return bool(m.group("q")) or keyword in ("import", "require", "module", "replace")

    def _result(self, start: int, end: int, score: float, reason: str) -> RecognizerResult:
        return scored_result(self, start, end, score, f"URL: {reason}")


def _camel(label: str) -> bool:
    return any(a.islower() and b.isupper() for a, b in itertools.pairwise(label))
