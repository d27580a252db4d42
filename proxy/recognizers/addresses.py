"""Street addresses, found from the grammar of addresses rather than from lists of street names.

An address is recognised in two steps:

1. an *anchor*: a street line that can be told apart from ordinary text by its shape, e.g.
   `742 Evergreen Terrace` (house number, name, English street type), `Lindenstraat 12` (a name
   compounded with a street-type suffix, then a number), `rue des Lilas 4`, `ul. Polna 7`,
   `12, chemin des Vignes`, `5 bis rue de la Paix`, `Via G. Garibaldi, 5`, `C/ Mayor, s/n`,
   `ul. 3 Maja 5` (a street-type prefix, with the house number before or after the street),
   `P.O. Box 17`, `BP 123` (French, only with the postcode and town after it),
   `PSC 1234, Box 5678 / APO AE 09123` (US military mail), `the corner of X and Y`, `12th Cross`
   (Indian numbered roads); weaker, a labelled Indian house number (`H.No. 5-6-123,`,
   `Plot No. 45,`, `A-12,`) that only counts when an address block follows it; or, weakest, a
   bare `Name 12` that only counts when the evidence around it (a house number before it, a
   unit, postcode or country after it, address words nearby) adds up;
2. *block extension*: from the anchor, the span grows over what an address block carries next to
   its street line: before it, house numbers (`No. 14,`), unit designators (`Apt. 5`, `Flat 3,`,
   `Flat No. 204,`) and a house or building name (`Rose Cottage,`, `Sai Residency,`); after it
   units (`int. 4`, `scala B`, `3º B`, `bajo`, `Bât. C`, `3e étage`, `bus 3`), Indian block parts
   (`4th Main`, a building name, `near Hanuman Temple`), a locality line, a region code (`VE`,
   `(MI)`, `(Madrid)`), a postcode (several countries' formats, also labelled: `PIN: 560034`)
   and a country name, on the same line after commas or ` - `, or on the following lines. Right
   after a firm street a postcode with its town needs no comma (`14 impasse du Moulin 33000
   Bordeaux`).

Scores: strong anchors start at 0.5-0.85 and evidence only firms them up; a bare `Name 12` starts
at 0.2 and needs evidence (a house number before it +0.15, a unit after it +0.25, a country +0.2,
a postcode +0.15, a town right after the postcode +0.07, "street" right after it +0.3, a
preposition before it +0.05, an address word such as "address", "lives", "ship to", "billing"
within 150 characters before it +0.3) to pass the 0.4 threshold. A bare name and number followed
by an ordinary lower-case word ("Redis 7 on port 6379") is dropped, and so is one whose name is an
acronym, a unit word ("Block 2") or whose number is a year; a year after a weak anchor is no
postcode ("Python 3, 2020 Edition"). Labelled house numbers start at 0.25-0.3 and are dropped
when nothing of a block follows them ("Plot No. 3, the residuals ...").

A block is reported one span per line, so line breaks and the decoration between the lines of a
pasted block stay readable in the masked text.

Street-type words, unit designators, postcode shapes and country names are written here from
general knowledge of postal conventions (USPS Publication 28 street suffixes, Royal Mail's
premise/thoroughfare/locality/post town order, La Poste's line order with bis/ter, BP and CEDEX,
Poste Italiane's CAP + town + province code, Correos' piso/puerta notation, India Post's house
number/building/road/area/city-PIN order, the usual street words of European languages); no
generator lexicon or evaluation data is used.

Text is matched on a copy where escaped line breaks (a literal backslash-n, as in pasted JSON)
are turned into a real line break of the same length, so offsets stay those of the input. A text
with no capital letter at all is matched in lower-case mode, where name words need no capital.
Everything is precompiled; name parts are searched backwards from numbers and street types
(`(?r)` patterns), which keeps the cost near 1-3 ms per KB.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers.results import scored_result

ENTITY = "STREET_ADDRESS"

# ---------------------------------------------------------------------------------------- lexicon

# English street types (USPS Publication 28, Appendix C1, plus common UK/Commonwealth ones).
# Tier 1: common enough to anchor an address after a house number and a name.
EN_TYPES_COMMON = (
    "street", "avenue", "road", "lane", "drive", "boulevard", "court", "place", "way", "terrace",
    "close", "crescent", "square", "parkway", "highway", "circle", "trail", "alley", "grove",
    "gardens", "mews", "plaza", "expressway", "freeway", "turnpike", "parade", "row", "walk",
    "rise", "heights", "ridge", "loop", "pike", "quay", "wharf", "esplanade", "embankment",
    "causeway", "bypass", "motorway", "broadway", "hill", "green", "park", "path", "view",
    # India (India Post address conventions): road and neighbourhood words written after the name.
    # ("layout", "enclave", "colony" are left out: "Grid Layout", "Secure Enclave", "Ant Colony".)
    "marg", "salai", "nagar", "vihar", "chowk", "gali", "peth",
)  # fmt: skip
EN_ABBREVIATIONS = (
    "st", "ave", "av", "rd", "ln", "dr", "blvd", "ct", "pl", "ter", "terr", "cres", "sq", "pkwy",
    "hwy", "cir", "trl", "aly", "gdns", "plz", "expy", "fwy", "tpke", "pde", "hts", "wy",
)  # fmt: skip
# Tier 2: the rest of the USPS suffix words. Too common as ordinary nouns to anchor an address on
# their own; used inside an address already found (a second street line, a cross street).
EN_TYPES_RARE = (
    "bend", "bluff", "bluffs", "bottom", "branch", "bridge", "brook", "brooks", "burg", "burgs",
    "camp", "canyon", "cape", "center", "centre", "centers", "cliff", "cliffs", "club", "common",
    "commons", "corner", "corners", "course", "courts", "cove", "coves", "creek", "crest",
    "crossing", "crossroad", "curve", "dale", "dam", "divide", "drives", "estate", "estates",
    "extension", "falls", "ferry", "field", "fields", "flat", "flats", "ford", "fords", "forest",
    "forge", "forges", "fork", "forks", "fort", "gateway", "glen", "glens", "greens", "groves",
    "harbor", "harbour", "harbors", "haven", "hills", "hollow", "inlet", "island", "islands",
    "isle", "junction", "junctions", "key", "keys", "knoll", "knolls", "lake", "lakes", "land",
    "landing", "light", "lights", "loaf", "lock", "locks", "lodge", "mall", "manor", "manors",
    "meadow", "meadows", "mill", "mills", "mission", "mount", "mountain", "mountains", "neck",
    "orchard", "oval", "overpass", "parks", "parkways", "pass", "passage", "pine", "pines",
    "plain", "plains", "point", "points", "port", "ports", "prairie", "radial", "ramp", "ranch",
    "rapid", "rapids", "rest", "ridges", "river", "roads", "route", "run", "shoal", "shoals",
    "shore", "shores", "skyway", "spring", "springs", "spur", "spurs", "squares", "station",
    "stravenue", "stream", "streets", "summit", "throughway", "trace", "track", "trafficway",
    "tunnel", "underpass", "union", "unions", "valley", "valleys", "viaduct", "vista", "villa",
    "village", "villages", "ville", "well", "wells", "ways", "wynd", "close", "chase", "copse",
)  # fmt: skip
# Types that, without a house number, still make "Name Type" a street ("Oxford Street").
EN_TYPES_WITHOUT_NUMBER = (
    "street", "avenue", "road", "boulevard", "lane", "parkway", "highway", "terrace", "marg", "salai",
    "nagar", "vihar",
)  # fmt: skip

# Street-type words written before the name (Romance, Slavic, Greek, Baltic, Turkish, ...).
PREFIX_TYPES = (
    "rue", "chemin", "impasse", "allée", "quai", "sentier", "ruelle", "faubourg", "lieu-dit",
    "hameau", "viale", "piazza", "piazzale", "corso", "vicolo", "strada", "contrada", "lungomare",
    "salita", "discesa", "località", "localita", "frazione", "borgata", "p.zza", "p.za", "v.le",
    "lungotevere", "lungarno", "lungolago", "piazzetta", "traversa", "circonvallazione", "calata",
    "fondamenta", "campiello", "stradone",
    "c.so", "v.lo", "calle", "avenida", "avda", "paseo", "carrera", "carretera", "camino", "travesía",
    "callejón", "pasaje", "urbanización", "beco", "plateia",
    "glorieta", "rambla", "rua", "rúa", "praça", "praca", "travessa", "estrada", "alameda",
    "ladeira", "rodovia", "ulica", "ul", "aleja", "aleje", "osiedle", "plac", "náměstí", "nám",
    "třída", "nábřeží", "akti", "leoforos", "odos", "οδός", "οδ", "λεωφόρος", "λεωφ", "πλατεία",
    "bulevardul", "calea", "aleea", "şoseaua", "soseaua", "piaţa", "piata", "ulitsa", "prospekt",
    "pereulok", "улица", "ул", "проспект", "пр", "переулок", "пер", "бульвар", "шоссе", "площадь",
    "набережная", "jalan", "jl", "jln",
)  # fmt: skip
# Prefix types that are also ordinary words or initials in English text ("via email",
# "Place the file", "R. Kelly"): they only count with a house number.
PREFIX_TYPES_AMBIGUOUS = (
    "via", "place", "route", "passage", "square", "plaza", "avenue", "boulevard", "cours",
    "ronda", "vila", "largo", "borgo", "r", "av", "str", "pl", "al", "os", "c/", "cl", "bd", "bld",
    "rte", "loc", "fraz", "pza", "ctra", "trav", "tv", "urb", "pº", "c",
)  # fmt: skip

# Street-type words written after the name as a separate word (German, Dutch, Nordic, Hungarian,
# Slavic, Baltic, Turkish): "Berliner Allee 2", "Karl Johans gate 22", "Kossuth Lajos út 6".
POSTFIX_TYPES = (
    "straße", "strasse", "str", "allee", "weg", "gasse", "platz", "damm", "ufer", "steig",
    "chaussee", "laan", "straat", "dreef", "baan", "steenweg", "plein", "kade", "singel",
    "vej", "vejen", "gade", "allé", "stræde", "torv", "vei", "veien", "veg", "vegen", "gata",
    "gatan", "vägen", "väg", "gränd", "torget", "plass", "stræti", "vegur", "braut", "utca", "u",
    "út", "útja", "körút", "tér", "tere", "sor", "fasor", "köz", "rakpart", "sétány", "ulica",
    "cesta", "trg", "ulice", "iela", "gatvė", "prospektas", "tänav", "maantee", "puiestee",
    "caddesi", "cad", "cd", "sokak", "sokağı", "sk", "bulvarı", "yolu", "katu", "tie", "kuja",  # noqa: RUF001 (Turkish dotless i)
)  # fmt: skip
# Norwegian "gate" is an English word too: only the lower-case form counts.
POSTFIX_TYPES_LOWER_ONLY = ("gate",)

# Suffixes of one-word street names: "Lindenstraat", "Strandvej", "Kauppakatu".
COMPOUND_SUFFIXES = (
    "straße", "strasse", "gasse", "platz", "allee", "weg", "damm", "ufer", "steig", "pfad",
    "chaussee", "zeile", "straat", "laan", "dijk", "gracht", "plein", "kade", "singel",
    "steenweg", "dreef", "hof", "kamp", "markt", "vej", "vejen", "gade", "stræde", "allé", "torv",
    "vei", "veien", "vegen", "veg", "gata", "gatan", "vägen", "väg", "gränd", "stigen", "stig",
    "stígur", "backen", "bakken", "torget", "plass", "stræti", "vegur", "braut", "katu", "tie",
    "kuja", "polku", "kaari", "rinne", "väylä", "utca", "tänav", "iela", "gatvė", "caddesi",
    "sokak", "sokağı",  # noqa: RUF001 (Turkish dotless i)
)  # fmt: skip
# English words that happen to end in one of those suffixes.
COMPOUND_FALSE_FRIENDS = frozenset({"brigade", "renegade", "necktie", "bowtie", "untie", "hof"})

# Unit designators (the secondary line of an address).
UNIT_WORDS = (
    "apartment", "apt", "suite", "ste", "unit", "flat", "room", "rm", "floor", "fl", "bldg",
    "building", "lgh", "whg", "wohnung", "etage", "dept", "department", "piso", "andar", "lok",
    "mieszkanie", "m",
    # French (La Poste: appartement, escalier, bâtiment), Italian (Poste Italiane: interno, scala,
    # piano), Spanish and Portuguese (escalera, puerta, bloco).
    "appt", "appartement", "app", "bât", "bat", "bâtiment", "batiment", "escalier", "esc", "étage",
    "int", "interno", "scala", "sc", "piano", "escalera", "puerta", "pta", "portal", "dpto", "depto",
    "bloco", "lote", "block", "blk", "wing", "tower", "km", "bus", "lotto", "pal", "palazzina",
    "edificio", "torre", "isolato",
)  # fmt: skip
# Spanish floor and door words written without a number ("Calle Mayor 5, bajo", "2º izda.").
FLOOR_WORDS = (
    "bajo", "ático", "atico", "entresuelo", "entlo", "principal", "pral", "izquierda", "izda", "izq",
    "derecha", "dcha", "dcho", "sótano", "rés-de-chaussée", "rdc",
)  # fmt: skip
# Unit designators whose value is often a letter ("scala B", "Bât. C", "Block A", "Wing 2").
UNIT_WORDS_LETTER = (
    "scala", "sc", "escalier", "esc", "escalera", "bât", "bat", "bâtiment", "batiment", "block",
    "blk", "wing", "tower", "building", "bldg", "portal", "bloco", "entrance", "staircase", "pal",
    "palazzina", "edificio", "torre",
)  # fmt: skip
# Words that label a house number with "No." or "#" after them ("H.No. 5-6-123", "Plot No. 45",
# "Door No. 12"): Indian addresses lead with them. Without "No." they are ordinary words ("plot 2")
# and only lead an address when a block follows ("Flat 12, Green Park Apartments, ...").
HOUSE_LABELS = ("h", "house", "d", "door", "plot", "shop", "site", "survey", "khasra", "flat", "villa")
# Last words of a house or building name written before the street: "Rose Cottage, Mill Lane"
# (Royal Mail), "Sai Residency, 12th Cross" (India).
HOUSE_NAME_WORDS = (
    "cottage", "cottages", "house", "farm", "farmhouse", "lodge", "barn", "hall", "manor", "grange",
    "rectory", "vicarage", "bungalow", "villa", "villas", "court", "mansions", "buildings",
    "chambers", "residency", "residence", "apartments", "apartment", "towers", "tower", "heights",
    "enclave", "complex", "nivas", "niwas", "sadan", "bhavan", "bhawan", "mahal", "kunj",
)  # fmt: skip
# Month names (Polish genitive, Italian, Spanish, French, Portuguese): streets named after a date
# ("ul. 3 Maja", "Via 4 Novembre", "Calle 2 de Mayo", "Place du 11 Novembre").
MONTHS = (
    "stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
    "października", "listopada", "grudnia", "gennaio", "febbraio", "marzo", "aprile", "maggio",
    "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre", "enero", "febrero",
    "abril", "mayo", "junio", "julio", "septiembre", "octubre", "noviembre", "diciembre", "janvier",
    "février", "mars", "avril", "mai", "juin", "juillet", "août", "décembre", "janeiro", "fevereiro",
    "março", "maio", "junho", "julho", "setembro", "outubro", "dezembro",
)  # fmt: skip
# Roads numbered by ordinals in Indian layouts ("12th Cross", "4th Main Road").
INDIAN_ORDINAL_ROADS = ("cross", "main")
# Landmarks that Indian addresses use in place of, or next to, a street ("near Hanuman Temple").
LANDMARK_WORDS = ("near", "opp", "opposite", "behind", "beside", "next to")

# Linking words inside street and place names ("rue des Lilas", "Frankfurt am Main").
PARTICLES = (
    "de", "del", "della", "delle", "dei", "degli", "di", "da", "do", "dos", "das", "du", "des",
    "la", "le", "les", "lo", "van", "von", "der", "den", "het", "ter", "ten", "te", "zu", "zum",
    "zur", "am", "an", "auf", "im", "al", "el", "y", "e", "et", "i", "à", "a", "u", "na", "nad",
    "pod", "pri", "v", "ve", "sur", "sous", "lès", "lez", "of", "the", "upon", "en", "og", "och",
)  # fmt: skip

# Countries by their usual English names (and a few common variants).
COUNTRIES = (
    "Afghanistan", "Albania", "Algeria", "Andorra", "Angola", "Antigua and Barbuda", "Argentina",
    "Armenia", "Australia", "Austria", "Azerbaijan", "Bahamas", "Bahrain", "Bangladesh",
    "Barbados", "Belarus", "Belgium", "Belize", "Benin", "Bhutan", "Bolivia",
    "Bosnia and Herzegovina", "Botswana", "Brazil", "Brunei", "Bulgaria", "Burkina Faso",
    "Burundi", "Cambodia", "Cameroon", "Canada", "Cape Verde", "Central African Republic", "Chad",
    "Chile", "China", "Colombia", "Comoros", "Congo", "Costa Rica", "Croatia", "Cuba", "Cyprus",
    "Czech Republic", "Czechia", "Denmark", "Djibouti", "Dominica", "Dominican Republic",
    "East Timor", "Ecuador", "Egypt", "El Salvador", "England", "Equatorial Guinea", "Eritrea",
    "Estonia", "Eswatini", "Ethiopia", "Faroe Islands", "Fiji", "Finland", "France", "Gabon",
    "Gambia", "Georgia", "Germany", "Ghana", "Greece", "Greenland", "Grenada", "Guatemala",
    "Guinea", "Guinea-Bissau", "Guyana", "Haiti", "Honduras", "Hong Kong", "Hungary", "Iceland",
    "India", "Indonesia", "Iran", "Iraq", "Ireland", "Israel", "Italy", "Ivory Coast", "Jamaica",
    "Japan", "Jordan", "Kazakhstan", "Kenya", "Kiribati", "Kosovo", "Kuwait", "Kyrgyzstan", "Laos",
    "Latvia", "Lebanon", "Lesotho", "Liberia", "Libya", "Liechtenstein", "Lithuania", "Luxembourg",
    "Madagascar", "Malawi", "Malaysia", "Maldives", "Mali", "Malta", "Marshall Islands",
    "Mauritania", "Mauritius", "Mexico", "Micronesia", "Moldova", "Monaco", "Mongolia",
    "Montenegro", "Morocco", "Mozambique", "Myanmar", "Namibia", "Nauru", "Nepal", "Netherlands",
    "The Netherlands", "New Zealand", "Nicaragua", "Niger", "Nigeria", "North Korea",
    "North Macedonia", "Northern Ireland", "Norway", "Oman", "Pakistan", "Palau", "Palestine",
    "Panama", "Papua New Guinea", "Paraguay", "Peru", "Philippines", "Poland", "Portugal",
    "Puerto Rico", "Qatar", "Romania", "Russia", "Russian Federation", "Rwanda",
    "Saint Kitts and Nevis", "Saint Lucia", "Samoa", "San Marino", "Saudi Arabia", "Scotland",
    "Senegal", "Serbia", "Seychelles", "Sierra Leone", "Singapore", "Slovakia", "Slovenia",
    "Solomon Islands", "Somalia", "South Africa", "South Korea", "Korea", "South Sudan", "Spain",
    "Sri Lanka", "Sudan", "Suriname", "Sweden", "Switzerland", "Syria", "Taiwan", "Tajikistan",
    "Tanzania", "Thailand", "Togo", "Tonga", "Trinidad and Tobago", "Tunisia", "Turkey", "Türkiye",
    "Turkmenistan", "Tuvalu", "Uganda", "Ukraine", "United Arab Emirates", "UAE",
    "United Kingdom", "UK", "Great Britain", "United States", "United States of America", "USA",
    "U.S.A.", "US", "Uruguay", "Uzbekistan", "Vanuatu", "Vatican City", "Venezuela", "Vietnam",
    "Viet Nam", "Wales", "Yemen", "Zambia", "Zimbabwe", "Deutschland", "España", "Italia",
    "Österreich", "Schweiz", "Suisse", "Nederland", "België", "Belgique", "Danmark", "Norge",
    "Sverige", "Suomi", "Polska", "Česko", "Magyarország", "Ísland", "Ελλάδα", "Κύπρος", "Brasil",
    "México", "Perú",
)  # fmt: skip


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Capitalised words that are never the name part of a "Name 12" street: calendar words, document
# structure, titles, function words that start sentences. Compared case-folded.
NOT_STREET_NAMES = _words(
    """
    january february march april may june july august september october november december jan feb
    mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday
    sunday mon tue tues wed thu thur thurs fri sat sun today tomorrow yesterday section sections
    chapter chapters page pages pp part parts volume vol article art figure fig table step steps
    stage phase level version v release update season episode ep round week weeks day days year
    years month months hour hours minute minutes grade class item items line lines option options
    question questions exercise lesson task ticket issue issues order orders invoice account card
    no nr number num rule note appendix psalm book act scene verse track disc gen model type series
    mark mk top best over under about around only just all the a an this that these those my our
    your his her their its at in on to from by for with and or but if when since until after
    before between age aged size price total score rank player team group tier sprint iteration
    batch epoch node port pin row column col cell sheet slide frame build patch plan pro max plus
    mini ultra lite box psc unit units apt apartment suite ste flat room rm floor fl building bldg
    mr mrs ms miss dr prof sir madam mx phone tel telephone fax mobile cell desk office email
    e-mail mail website web name address zip postcode code pin id ref reference gate terminal
    platform flight bus train car seat lot lots case cases chart charts test tests lab labs
    question answer q a i we you he she they it please thanks thank hi hello dear regards best
    happy merry fig eq equation pi rev revision ver build edition ed ch vs via per each every
    """
)
# Words that label a number ("Step 1", "Figure 3", "Chapter 2"): the number after them is not a
# house number, so "Step 1 Create Path" is no street.
LABEL_WORDS = _words(
    """
    section chapter page part volume vol article figure fig table step stage phase level version
    release season episode ep round week day year grade class item line option question exercise
    lesson task ticket issue order invoice account card no nr number num rule note appendix book
    act scene verse track disc gen model type series mark rank tier sprint iteration batch epoch
    node port pin row column col cell sheet slide frame build patch plan lot case chart test lab
    edition rev revision ver id ref pr bug story point points score player level lvl
    """
)
# Words that never start a locality line (the text after the address has moved on).
NOT_LOCALITY_WORDS = _words(
    """
    please thanks thank call i we you he she they it the this that my our your his her their if
    when also and but so then phone tel telephone fax mobile cell desk office email e-mail
    website web name address regards best cheers sincerely dear hi hello is are was were will
    would can could should have has had do does did for to in on at of with from by as or not
    """
)
# Lower-case words that are not part of names in an all-lower-case text.
LOWER_STOPWORDS = _words(
    """
    a an the and or but if then of to in on at by for with from into onto over under after before
    since until about as is are was were be been being am do does did have has had i me my we us
    our you your he him his she her it its they them their this that these those there here
    please can could would should will shall may might must not no yes so too very just also only
    all any some each every more most other than what which who whom whose when where why how
    lives live lived living moved move address send sent ship meet call get got go going come see
    let make take want need like last next night day today tomorrow yesterday case issue concert
    street st road rd avenue ave apt suite unit box phone fax mobile email office
    """
)

# ------------------------------------------------------------------------------------ patterns

_S = r"[ \t\u00a0]+"  # white space inside one line
_OPT_S = r"[ \t\u00a0]*"
_L = r"[\p{L}\p{M}\u2206]"  # a letter; U+2206 often stands in for Greek Delta in re-encoded text
_UP = r"[\p{Lu}\u2206]"
_NOT_WORD_BEFORE = r"(?<![\p{L}\p{M}\p{N}'\u2019.-])"
_NOT_WORD_AFTER = r"(?![\p{L}\p{M}\p{N}])"
# A house number: 12, 12a, 12-14, 12/3. House letters run a to h: "70s", "5k", "3D" are not
# house numbers, and neither are decimals, times, versions or percentages.
_HNUM = r"\d{1,5}[A-Ha-h]?(?:[-/]\d{1,4}[A-Ha-h]?)?"
_NUM_END = r"(?![\p{L}\p{N}]|[.,:/]\d|\s?%)(?:\.(?![\p{L}\p{N}.]))?"
_ORDINAL = r"\d{1,3}(?:st|nd|rd|th|e|er|ème)" + _NOT_WORD_AFTER
_INITIALS = rf"(?:{_UP}\.){{1,3}}"
# Compass points after a street type: "Pennsylvania Avenue NW".
_DIRECTIONAL = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?(?![\p{L}\p{N}])"
# French "bis", "ter", "quater" after a house number ("5 bis rue de la Paix", "12ter").
_BIS = r"(?i:bis|ter|quater)(?![\p{L}\p{N}])"
# A sign before a house number written after the street ("Rua Augusta, nº 100", "Calle Mayor, n.º 5").
_NUMBER_SIGN = r"(?i:n\.?[ \t]?[°º]|no\.|nr\.?|núm\.?|n\.|n\.o\b)"  # "n.º" reads "n.o" in the NFKC view
_UK_POSTCODE = r"(?i:[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})(?![\p{L}\p{N}])"
# A label before a postcode: "PIN: 560034", "Pincode - 560034", "CAP 20121", "PLZ 10115".
_POSTCODE_LABEL = (
    r"(?:(?i:pin[ \t]?code|pin|postcode|post[ \t]code|zip[ \t]code|zip|cap|plz)\.?[ \t]*[:.-]?[ \t]*)"
)
# A unit's number: 4, 4B, 10/12, and the dashed Indian house numbers (5-6-123).
_UNIT_NUM = r"\d{1,5}[A-Za-z]?(?:[-/]\d{1,5}[A-Za-z]?){0,3}"
# Line break(s) with the odd decoration a pasted block carries ("}} ", "??? ", ", ").
_NEWLINE = r"(?:[ \t\u00a0]*,?[ \t\u00a0]*\n[^\p{L}\p{N}\n]{0,8}){1,3}"
# How far back from a street type or a number its name may start.
_LOOKBACK = 100


def _alternation(words: Iterable[str]) -> str:
    # Longest first, so that "strasse" is tried before "str".
    return "|".join(regex.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _word(lower_mode: bool) -> str:
    """A name word: capitalised (or any case in an all-lower-case text), with inner apostrophes
    and hyphens ("O'Brien", "Saint-Jean-de-Luz")."""
    first = _L if lower_mode else _UP
    return rf"{first}{_L}*(?:['\u2019]{_L}+)*(?:-{_L}+)*(?:['\u2019](?=\s))?(?![\p{{L}}\p{{M}}\p{{N}}])"


@dataclass(frozen=True)
class _Patterns:
    """The compiled patterns for one letter-case mode."""

    military: regex.Pattern[str]
    ship: regex.Pattern[str]
    po_box: regex.Pattern[str]
    corner: regex.Pattern[str]
    french_box: regex.Pattern[str]
    house_label: regex.Pattern[str]
    ordinal_road: regex.Pattern[str]
    english_type: regex.Pattern[str]
    english_name: regex.Pattern[str]
    english_lower: regex.Pattern[str]
    english_rare: regex.Pattern[str]
    prefix: regex.Pattern[str]
    prefix_hn: regex.Pattern[str]
    number: regex.Pattern[str]
    name_before_number: regex.Pattern[str]
    back_number: regex.Pattern[str]
    back_unit: regex.Pattern[str]
    back_house: regex.Pattern[str]
    back_and: regex.Pattern[str]
    back_corner: regex.Pattern[str]
    back_preposition: regex.Pattern[str]
    separator: regex.Pattern[str]
    unit: regex.Pattern[str]
    box: regex.Pattern[str]
    second_street: regex.Pattern[str]
    building: regex.Pattern[str]
    landmark: regex.Pattern[str]
    postcode: regex.Pattern[str]
    country: regex.Pattern[str]
    region: regex.Pattern[str]
    region_before_postcode: regex.Pattern[str]
    locality: regex.Pattern[str]
    street_word_after: regex.Pattern[str]
    lower_word_after: regex.Pattern[str]
    place_after: regex.Pattern[str]


def _compile(lower_mode: bool) -> _Patterns:
    word = _word(lower_mode)
    particle = rf"(?:{_alternation(PARTICLES)}|[ld]['\u2019])"
    # A unit designator or box before its number ends a name: "Rue du Moulin | Apt. 7".
    not_unit = rf"(?!(?i:{_alternation(UNIT_WORDS)}|box|p\.o\.)\.?{_OPT_S}(?:#|(?i:no|nr)\.?)?{_OPT_S}\d)"
    # Initials first, so that "G." keeps its full stop ("Via G. Garibaldi").
    name_token = rf"{not_unit}(?:{_INITIALS}|{word}|{_ORDINAL})"
    # A name: words, with linking particles only between words ("rue des Lilas").
    name = rf"{name_token}(?:{_S}(?:{particle}{_S}){{0,2}}{name_token}){{0,4}}"
    hnum = rf"{_HNUM}{_NUM_END}"
    prefix_types = _alternation(PREFIX_TYPES + PREFIX_TYPES_AMBIGUOUS)
    en_types = _alternation(EN_TYPES_COMMON)
    en_abbr = _alternation(EN_ABBREVIATIONS)
    all_en_types = _alternation(EN_TYPES_COMMON + EN_TYPES_RARE)
    unit_letter = r"[a-z]" if lower_mode else r"[A-Z]"
    house_label = rf"(?i:{_alternation(HOUSE_LABELS)})\.?{_OPT_S}(?:#|(?i:no|nr|number)\.?){_OPT_S}:?"
    unit = (
        rf"(?!{_UK_POSTCODE})(?:(?:(?i:{_alternation(UNIT_WORDS)})\.?{_OPT_S}(?:#|(?i:no|nr)\.?)?|#){_OPT_S}{_UNIT_NUM}"
        rf"|{house_label}{_OPT_S}{_UNIT_NUM}"
        rf"|(?i:{_alternation(UNIT_WORDS_LETTER)})(?:\.{_OPT_S}|{_S}){unit_letter}"
        # "3rd Floor", "2e étage", "3° piano", "1º andar"
        rf"|\d{{1,2}}(?i:st|nd|rd|th|e|er|ère|ème|°|º|ª)?{_S}(?i:floor|fl\.?|étage|etage|piano|piso|planta|andar)"
        # Spanish floor and door: "3º B", "2º 1ª", "4.º izq."
        # (detection reads the NFKC view, where "º" and "ª" are "o" and "a": "3o B", "2o 1a")
        rf"|\d{{1,2}}\.?(?:[ºª°]|[oa](?=[ \t]*(?:[A-Z]\b|\d|(?i:{_alternation(FLOOR_WORDS)})\b)))"
        rf"(?:{_OPT_S}(?:[A-Z]|\d{{1,2}}[ºªoa]?|(?i:{_alternation(FLOOR_WORDS)})\.?))?"
        rf"|(?i:{_alternation(FLOOR_WORDS)})\.?(?:{_S}{unit_letter}(?![\p{{L}}\p{{N}}]))?"
        rf"){_NOT_WORD_AFTER}"
    )
    box = rf"(?i:p\.?{_OPT_S}o\.?{_OPT_S}box|post{_OPT_S}(?:office{_OPT_S})?box|postfach|postbus|box)"
    country = rf"(?i:{_alternation(COUNTRIES)}){_NOT_WORD_AFTER}"
    mil_tail = rf"(?:{_NEWLINE}|{_S})(?i:[adf]po){_S}(?i:a[aep]){_S}\d{{5}}(?:-\d{{4}})?{_NOT_WORD_AFTER}"
    # One token of a street in a "corner of A and B" phrase: name words, numbers, type words.
    street_token = (
        rf"(?:{name_token}|{hnum}|(?i:{_alternation(EN_TYPES_COMMON + EN_TYPES_RARE + EN_ABBREVIATIONS)}"
        rf"|{_alternation(POSTFIX_TYPES + PREFIX_TYPES + PREFIX_TYPES_AMBIGUOUS)})\.?{_NOT_WORD_AFTER})"
    )
    corner_street = rf"{street_token}(?:{_S}(?:{particle}{_S}){{0,2}}{street_token}){{0,5}}"
    # The first street cannot run through the "and" that ends it, so each of its words, once
    # matched, is kept (atomic): trying every split of a long run of words ("corner of corner of
    # ...") cost milliseconds per failed attempt. Only whole words can then be given back. A word
    # there is always followed by white space, which picks its longest reading ("St." over "St").
    first_token = rf"(?!and{_NOT_WORD_AFTER}){street_token}(?=[ \t\u00a0])"
    corner_first = rf"{first_token}(?>{_S}(?:{particle}{_S}){{0,2}}{first_token}){{0,5}}"
    # A name right before a number, found backwards from the number (`(?r)`): cheap, because
    # numbers are rare next to the words of ordinary text. The optional lower-case words carry a
    # street type written after the name ("Duna rakpart 8", "Szent István körút 3.").
    name_word = rf"(?:{word}\.?|{_INITIALS})"
    postcode_town = rf"\d{{4,6}}{_S}{word}"
    date_name = rf"\d{{1,2}}{_S}(?:(?i:de|du){_S})?(?i:{_alternation(MONTHS)}){_NOT_WORD_AFTER}"
    ordinal_road = (
        rf"\d{{1,3}}(?i:st|nd|rd|th){_S}"
        + (rf"(?i:{_alternation(INDIAN_ORDINAL_ROADS)})" if lower_mode else r"(?:Cross|Main|CROSS|MAIN)")
        # Not "3rd Main Course": a capitalised word after it is only allowed as its road type.
        + rf"(?:{_S}(?i:road|rd\.?|street|st\.?)|(?!{_S}{_UP}))(?![\p{{L}}\p{{N}}-])"
    )
    return _Patterns(
        military=regex.compile(
            rf"{_NOT_WORD_BEFORE}(?i:unit|psc|cmr){_S}\d{{3,5}},?{_S}(?i:box){_S}\d{{1,5}}{mil_tail}"
        ),
        ship=regex.compile(
            rf"{_NOT_WORD_BEFORE}(?i:uss|usns|usnv|uscgc|uscg){_S}(?:{particle}{_S})*{word}"
            rf"(?:{_S}(?:{particle}{_S})*{word}){{0,3}}{mil_tail}"
        ),
        po_box=regex.compile(
            rf"{_NOT_WORD_BEFORE}(?i:p\.?{_OPT_S}o\.?{_OPT_S}box|post{_S}office{_S}box|post{_OPT_S}box|"
            rf"postfach|postbus|casella{_S}postale|apartado(?:{_S}de{_S}correos)?|caixa{_S}postal|"
            rf"casilla(?:{_S}de{_S}correos?)?|bo[iî]te{_S}postale){_OPT_S}(?:(?i:no)\.?{_OPT_S}|#)?"
            rf"\d{{1,6}}{_NOT_WORD_AFTER}"
        ),
        # French "boîte postale", "course spéciale" and "tri service arrivée" numbers, counted only
        # with the postcode and town that follow them ("BP 123, 69003 Lyon Cedex").
        french_box=regex.compile(
            rf"{_NOT_WORD_BEFORE}(?:B\.?P\.?|CS|TSA){_OPT_S}\d{{1,5}}{_NOT_WORD_AFTER}"
            rf"(?=(?:{_OPT_S},{_OPT_S}|{_S}|{_NEWLINE})\d{{5}}{_S}{word})"
        ),
        # A labelled house number that leads an Indian address: "H.No. 5-6-123,", "Plot No. 45,".
        house_label=regex.compile(
            # (the lookahead skips most positions fast: the labels start with one of these letters)
            rf"(?=[A-Zhdpsfvk]){_NOT_WORD_BEFORE}(?:{house_label}{_OPT_S}{_UNIT_NUM}|[A-Z]{{1,2}}-\d{{1,4}}[A-Za-z]?(?:/\d{{1,4}})?"
            # without "No." it is weaker still: "Flat 12, Green Park Apartments, ..."
            rf"|(?P<bare>(?i:house|door|plot|shop|flat|villa){_S}{_UNIT_NUM}))"
            rf"{_NOT_WORD_AFTER}(?=[ \t]*,)"
        ),
        ordinal_road=regex.compile(rf"{_NOT_WORD_BEFORE}{ordinal_road}"),
        corner=regex.compile(
            rf"(?i:\b(?:the{_S})?corner{_S}of){_S}(?P<a>{corner_first}){_S}(?:and|&){_S}(?P<b>{corner_street})"
        ),
        english_type=regex.compile(
            rf"(?<![\p{{L}}\p{{N}}])(?P<type>(?i:{en_types})(?![\p{{L}}\p{{N}}])"
            rf"|(?i:{en_abbr})(?:\.|(?![\p{{L}}\p{{N}}])))(?P<dir>{_S}{_DIRECTIONAL})?(?P<tail>{_S}{hnum})?"
        ),
        english_name=regex.compile(rf"(?r){_NOT_WORD_BEFORE}(?:(?P<hn>{_HNUM}),?{_S})?(?P<name>{name}){_S}\Z"),
        # "45 Maple Crossing", "7 Willow Bend": a rarer street type, capitalised, after a house
        # number and a capitalised name (the alternation is case-sensitive, which keeps it cheap).
        english_rare=regex.compile(
            rf"{_NOT_WORD_BEFORE}(?P<hn>{_HNUM}){_S}(?P<name>{word}(?:{_S}{word})?){_S}"
            rf"(?P<type>{_alternation(w.capitalize() for w in EN_TYPES_RARE)})(?![\p{{L}}\p{{N}}])"
        ),
        english_lower=regex.compile(
            rf"{_NOT_WORD_BEFORE}(?P<hn>{_HNUM}){_S}(?P<name>(?:\p{{Ll}}{_L}*{_S}){{1,2}})"
            rf"(?P<type>{_alternation((*EN_TYPES_WITHOUT_NUMBER, 'drive', 'crescent'))})"
            rf"(?:{_S}{_DIRECTIONAL})?{_NOT_WORD_AFTER}"
        ),
        # The house number before a prefix type is looked up backwards from the type (`prefix_hn`):
        # trying it at every number of the text cost more than the rest of the pattern.
        prefix=regex.compile(
            rf"{_NOT_WORD_BEFORE}(?P<type>(?i:{prefix_types})(?:\.|(?![\p{{L}}\p{{N}}/])))"
            rf"{_OPT_S}(?P<name>(?:{particle}{_S}){{0,2}}(?:{date_name}(?:{_S}{name})?|{name}))"
            # The number after the name, also after a comma or a number sign ("Via Verdi, 5",
            # "Rua Augusta, nº 100"); a number followed by a town is the postcode ("14 impasse du
            # Moulin 33000 Bordeaux", "lieu-dit Les Granges, 24200 Sarlat").
            rf"(?:(?:{_OPT_S},{_OPT_S}|{_S})(?!{postcode_town})(?:{_NUMBER_SIGN}{_OPT_S})?"
            rf"(?P<num>{hnum}(?:{_OPT_S}{_BIS})?|(?i:s/n){_NOT_WORD_AFTER})"
            rf"(?:{_S}\d{{1,4}}(?=[ \t]*(?:[,\n]|$)))?)?"
        ),
        prefix_hn=regex.compile(rf"(?r){_NOT_WORD_BEFORE}(?P<hn>{_HNUM}(?:{_OPT_S}{_BIS})?),?{_S}\Z"),
        # Dutch floor marks after the number: "5-II", "158 hs".
        number=regex.compile(
            rf"{_NOT_WORD_BEFORE}{_HNUM}(?:-(?:III|II|IV|I)|[ \t](?:hs|bg|huis))?{_NUM_END}"
        ),
        name_before_number=regex.compile(
            rf"(?r){_NOT_WORD_BEFORE}(?P<name>{name_word}(?:{_S}(?:{particle}{_S}){{0,2}}{name_word}){{0,3}})"
            rf"(?P<low>(?:{_S}\p{{Ll}}{_L}*\.?){{0,2}})(?:{_S}|(?<=\.))\Z"
        ),
        # Not a number that is labelled ("§ 290", "# 12") or part of a longer figure.
        # "No. 14, ", "#12, " and "12, " (Indian, French) before the street count as well.
        back_number=regex.compile(
            rf"(?r)(?:(?<![\p{{L}}\p{{N}}])(?:(?i:no|nr)\.|#){_OPT_S}"
            rf"|(?<![\p{{L}}\p{{N}}])[A-Z]-"  # "B-12, Sector 62"
            rf"|(?<![\p{{L}}\p{{N}}.,:/+$€£#-]|[§¶#]{_OPT_S}))(?P<n>\d{{1,6}})(?:{_OPT_S}{_BIS})?,?{_S}\Z"
        ),
        back_house=regex.compile(
            rf"(?r){_NOT_WORD_BEFORE}(?:{word}{_S}){{1,3}}(?i:{_alternation(HOUSE_NAME_WORDS)})"
            rf"(?:{_OPT_S},{_S}|{_NEWLINE}{_OPT_S})\Z"
        ),
        back_unit=regex.compile(rf"(?r){_NOT_WORD_BEFORE}{unit},?{_S}\Z"),
        back_and=regex.compile(rf"(?r){_NOT_WORD_BEFORE}(?P<w>{word}){_S}(?:and|&){_S}\Z"),
        back_corner=regex.compile(rf"(?i:\b(?:the{_S})?corner{_S}of){_S}\Z"),
        back_preposition=regex.compile(r"(?i:\b(?:at|on|in|to|from|is)|:)[ \t\u00a0]*\Z"),
        separator=regex.compile(rf"{_NEWLINE}{_OPT_S}|{_OPT_S},{_OPT_S}|{_S}[-\u2013]{_S}|{_S}"),
        unit=regex.compile(unit),
        box=regex.compile(rf"{box}{_OPT_S}\d{{1,6}}{_NOT_WORD_AFTER}"),
        second_street=regex.compile(
            rf"{word}(?:{_S}{word})?{_S}(?i:{all_en_types})(?![\p{{L}}\p{{N}}])|{ordinal_road}"
        ),
        building=regex.compile(rf"{word}(?:{_S}{word}){{0,3}}{_S}(?i:{_alternation(HOUSE_NAME_WORDS)}){_NOT_WORD_AFTER}"),
        landmark=regex.compile(
            rf"(?i:{_alternation(LANDMARK_WORDS)})\.?{_S}(?:(?i:the){_S})?{name}"
        ),
        postcode=regex.compile(
            rf"{_POSTCODE_LABEL}?(?:[A-Z]{{1,2}}-)?(?:"
            r"(?i:[A-Z]{1,2}\d[A-Z\d]?[ \t]{0,2}\d[A-Z]{2})"  # United Kingdom
            r"|(?i:[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)"  # Canada
            r"|\d{4}[ \t]{0,2}(?i:[A-Z]{2})(?![\p{L}])"  # Netherlands
            r"|\d{5}-\d{4}|\d{2}-\d{3}|\d{3}-\d{4}|\d{4}-\d{3}"  # US ZIP+4, Poland, Japan, Portugal
            r"|\d{5}-\d{3}"  # Brazil
            r"|\d{3}[ \t]\d{3}"  # India (PIN written in two groups)
            r"|\d{3}[ \t]\d{2}"  # Sweden, Czechia, Slovakia, Greece
            r"|\d{3,6}"
            r")(?![\p{L}\p{N}]|[.,/-]\d|[ \t]?\d)"
        ),
        country=regex.compile(rf"{country}(?:{_OPT_S}\([\p{{L}} ]{{1,20}}\))?{_NOT_WORD_AFTER}"),
        # "OR", "VE", and the Italian province in brackets: "20121 Milano (MI)".
        region=regex.compile(
            rf"\({_UP}{{2}}\)|\({word}(?:{_S}{word}){{0,2}}\)|{_UP}{{1,3}}{_NOT_WORD_AFTER}(?!\.\p{{L}})"
        ),
        # A lower-case region code counts only when a postcode follows ("Kraków, mp 30-001").
        region_before_postcode=regex.compile(
            rf"{_L}{{2,3}}{_NOT_WORD_AFTER}(?=(?:{_NEWLINE}|{_S}|,{_OPT_S})\d)"
        ),
        locality=regex.compile(
            rf"(?P<loc>{word}(?:{_S}(?:{particle}{_S}){{0,2}}(?!{country}){word}){{0,3}})"
            rf"(?:{_S}\d{{1,2}}{_NOT_WORD_AFTER})?(?![ \t]*[:@])"
        ),
        street_word_after=regex.compile(rf"{_S}(?i:street|st\.?|str\.?){_NOT_WORD_AFTER}"),
        lower_word_after=regex.compile(rf"{_S}\p{{Ll}}{_L}*"),
        place_after=regex.compile(rf"{_S}{word}"),
    )


_PATTERNS = {False: _compile(False), True: _compile(True)}

# Words near a span that say an address is being given. "address" after a technical qualifier
# (IP address, e-mail address, memory address) is not one.
_CUES = regex.compile(
    r"(?i)\b(?:(?<!\b(?:ip|ipv4|ipv6|e-?mail|mac|memory|web|server|host|wallet|bind|listen|return|"
    r"base|physical|virtual|url|network|broadcast|loopback|contract|public|private|local|remote|"
    r"gateway|proxy|socket)[ \t-])address(?:es)?|addr|lives?|lived|living|resid(?:e[sd]?|ence|ing)|"
    r"located|situated|headquartered|ship(?:ping|ped)?\s+to|deliver(?:y|ed)?|mailing|billing|postal|"
    r"apartment|street|taxi|drops?\s+(?:you|me|us)\s+off|meet\s+(?:me|you|us)\s+at|moved\s+to)\b"
)
_CONTEXT_WINDOW = 150
_ESCAPED_BREAK = regex.compile(r"\\[nr]")
_ESCAPED_TAB = regex.compile(r"\\t")
# One line of a block, from its first letter or digit to its last non-space, non-comma character.
_LINE_PIECE = regex.compile(r"#?[\p{L}\p{N}][^\n]*?(?=[ \t\u00a0,;]*(?:\n|$))")
_SUFFIX_AT_END = regex.compile(rf"(?i:{_alternation(COMPOUND_SUFFIXES)})\Z|(?i:str)\.\Z")
_UNAMBIGUOUS_PREFIXES = frozenset(PREFIX_TYPES)
_EN_WITHOUT_NUMBER = frozenset(EN_TYPES_WITHOUT_NUMBER)
_EN_ABBREVIATIONS_WITHOUT_NUMBER = frozenset({"st", "ave", "rd", "blvd", "pkwy", "hwy"})
_PARTICLE_SET = frozenset(PARTICLES)
_UNIT_SET = frozenset(UNIT_WORDS + UNIT_WORDS_LETTER + HOUSE_LABELS)
_POSTFIX_SET = frozenset(POSTFIX_TYPES)
# Short postfix types that must carry their full stop to count ("Petőfi u. 5", "Berliner Str. 38").
_POSTFIX_NEEDS_DOT = frozenset({"u", "str", "cad", "cd", "sk"})
# Abbreviated prefix types that need their full stop ("ul.", "Av."); a bare "R" is handled apart.
_PREFIX_NEEDS_DOT = _words(
    "str pl al os av cl bd bld rte ul nám jl οδ λεωφ ул пр пер loc fraz pza ctra trav tv urb c"
)
# ... except right after a house number, where French and Spanish often drop it ("27 bd Voltaire").
_PREFIX_DOTLESS_AFTER_NUMBER = _words("bd bld av")
# Ambiguous prefixes that, written in lower case after a house number, are French streets
# ("27 bd Voltaire", "3 avenue Foch") rather than English words.
_FRENCH_AFTER_NUMBER = _words("bd bld av boulevard avenue rte")
_POLISH_DOTTED = _words("al os pl")
_EVIDENCE = {
    "unit": 0.25,
    "box": 0.2,
    "second street": 0.15,
    "postcode": 0.15,
    "country": 0.2,
    "region": 0.05,
}


def normalise(text: str) -> str:
    """The text with escaped line breaks made real, same length, so offsets are unchanged."""
    if "\\" in text:
        text = _ESCAPED_BREAK.sub(" \n", text)
        text = _ESCAPED_TAB.sub("  ", text)
    return text.replace("\r", " ")


def _is_year_or_count(text: str, start: int, number: str) -> bool:
    """A four-digit year or a count before a name ("in 2019 Wall Street", "top 10 Wall Street") is
    not a house number."""
    before = text[max(0, start - 12) : start].lower().split()
    last = before[-1] if before else ""
    if len(number) == 4 and number[:2] in ("19", "20"):
        return last in {"in", "since", "by", "from", "until", "of", "year", "circa", "c.", "early", "late"}
    return (
        last in {"top", "over", "under", "about", "the", "first", "last", "all", "only"}
        or last in LABEL_WORDS
    )


_YEAR = regex.compile(r"(?:19|20)\d\d")
_INITIAL_WORD = regex.compile(r"(?:\p{Lu}\.)+")


def _is_stop(word: str) -> bool:
    """A word that cannot be part of a street name ("Section", "Monday", "the", "lives")."""
    if _INITIAL_WORD.fullmatch(word):
        return False  # an initial: "J. Smith Street"
    folded = word.rstrip(".").lower()
    return folded in NOT_STREET_NAMES or (word.islower() and folded in LOWER_STOPWORDS)


def _ends_name(word: str, following: str = "") -> bool:
    """Whether `word`, read right to left, is where a street name stops: a sentence word, not a
    linking particle ("Am Ring", "de la" stay), nor a capitalised first name before one ("Jan van
    Galenstraat", though "Jan" is also a month)."""
    folded = word.lower()
    if folded in NOT_LOCALITY_WORDS:
        return True
    if following in _PARTICLE_SET and word[:1].isupper():
        return False
    return _is_stop(word) and folded not in _PARTICLE_SET


def _name_start(text: str, start: int, end: int) -> int | None:
    """Where a street name in text[start:end] really starts: after the last sentence word
    ("Visit", "lives", "The") and any lower-case particle left at its front. None if nothing
    name-like is left."""
    words = list(regex.finditer(r"\S+", text[start:end]))
    keep = len(words)
    while keep > 0:
        following = words[keep].group() if keep < len(words) else ""
        if _ends_name(words[keep - 1].group(), following):
            break
        keep -= 1
    kept = words[keep:]
    while kept and kept[0].group() in _PARTICLE_SET:  # a lower-case "de", "van" cannot start it
        kept = kept[1:]
    return start + kept[0].start() if kept else None


@dataclass
class _Candidate:
    start: int
    end: int
    score: float
    kind: str
    weak: bool = False
    # Only an address if the block grows past it ("Plot No. 45, Sector 15, ..."; not "Plot No. 3").
    needs_block: bool = False


class StreetAddressRecognizer(EntityRecognizer):
    """Street addresses in many countries' forms, with their unit, postcode, locality and country
    lines (see the module docstring for how)."""

    # Score of a bare "Name 12" before any evidence; evidence adds to it (see `_grow`).
    WEAK_BASE = 0.2
    MIN_SCORE = 0.3
    MAX_SCORE = 0.85

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=[ENTITY],
            name="StreetAddressRecognizer",
            supported_language=supported_language,
            context=[],  # context is weighed here, over a wider window than Presidio's enhancer
        )

    def load(self) -> None:  # patterns are compiled at import
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and ENTITY not in entities:
            return []
        results = []
        for c in self.find(text):
            score = round(c.score, 2)
            results.append(scored_result(self, c.start, c.end, score, c.kind))
        return results

    # ------------------------------------------------------------------------------ anchors

    def find(self, text: str) -> list[_Candidate]:
        """Address spans in `text` with their scores, one span per line of a block."""
        norm = normalise(text)
        lower_mode = not any(ch.isupper() for ch in norm)
        p = _PATTERNS[lower_mode]
        anchors = self._fixed_anchors(norm, p, lower_mode)
        anchors += self._english_anchors(norm, p, lower_mode)
        if not lower_mode:
            anchors += self._rare_type_anchors(norm, p)
        anchors += self._prefix_anchors(norm, p, lower_mode)
        anchors += self._number_anchors(norm, p, [(a.start, a.end) for a in anchors])
        grown = [self._grow(norm, p, a) for a in anchors]
        return self._merge(norm, [g for g in grown if g.score >= self.MIN_SCORE])

    @staticmethod
    def _fixed_anchors(text: str, p: _Patterns, lower_mode: bool) -> list[_Candidate]:
        out = [_Candidate(m.start(), m.end(), 0.85, "military mail") for m in p.military.finditer(text)]
        out += [_Candidate(m.start(), m.end(), 0.85, "military mail") for m in p.ship.finditer(text)]
        out += [_Candidate(m.start(), m.end(), 0.6, "post office box") for m in p.po_box.finditer(text)]
        out += [_Candidate(m.start(), m.end(), 0.7, "street corner") for m in p.corner.finditer(text)]
        out += [_Candidate(m.start(), m.end(), 0.6, "post office box") for m in p.french_box.finditer(text)]
        # Without capitals to tell "4th Main" from "the 4th main point", it needs the block after it.
        out += [
            _Candidate(m.start(), m.end(), 0.3, "numbered road", True, needs_block=True)
            if lower_mode
            else _Candidate(m.start(), m.end(), 0.5, "numbered road")
            for m in p.ordinal_road.finditer(text)
        ]
        kind = "labelled house number"
        # "Plot No. 45," alone is a weak start: the block after it has to show it is an address.
        out += [
            _Candidate(m.start(), m.end(), 0.25 if m.group("bare") else 0.3, kind, True, needs_block=True)
            for m in p.house_label.finditer(text)
        ]
        return out

    @staticmethod
    def _english_anchors(text: str, p: _Patterns, lower_mode: bool) -> list[_Candidate]:
        """House number, name, English street type: "742 Evergreen Terrace", "1600 Pennsylvania
        Avenue NW"; without a house number only the plain types ("Oxford Street")."""
        out: list[_Candidate] = []
        for t in p.english_type.finditer(text):
            m = p.english_name.search(text, max(0, t.start() - _LOOKBACK), t.start())
            if m is None:
                continue
            start = _name_start(text, m.start("name"), m.end("name"))
            hn = m.group("hn")
            if start is None and hn and m.group("name") in ("The", "the"):
                start = m.start("name")  # "12 The Crescent", "3 The Mews"
            if start is None:
                continue
            if hn and start == m.start("name") and not _is_year_or_count(text, m.start("hn"), hn):
                end = t.start("tail") if t.group("tail") else t.end()
                score = 0.5 if lower_mode else 0.7
                out.append(_Candidate(m.start("hn"), end, score, "house number, name, street type"))
                continue
            # No house number: "Oxford Street", "Baker Street 221B" -- but not "Street Fighter",
            # "Wall Street Journal" (a capitalised word follows), nor "the Python way".
            street_type = t.group("type")
            folded = street_type.rstrip(".").lower()
            if lower_mode or not street_type[0].isupper():
                continue
            if folded in _EN_WITHOUT_NUMBER:
                score = 0.5
            elif folded in _EN_ABBREVIATIONS_WITHOUT_NUMBER and street_type[1:].islower():
                # "on Main St", "Elm Ave."; not "Parsing Rd files", "LIGATURE ST". "St." before a
                # capitalised word is "Saint" (below).
                if not (
                    p.back_preposition.search(text, max(0, start - 12), start)
                    or regex.match(r"[ \t]*(?:[,.;:!?)\n]|$)", text[t.end() : t.end() + 2])
                ):
                    continue
                score = 0.45
            else:
                continue
            following = regex.match(r"[ \t]+(\p{Lu}\p{L}*)", text[t.end() : t.end() + 40])
            if following and following.group(1).lower() not in UNIT_WORDS and not t.group("tail"):
                continue
            out.append(_Candidate(start, t.end(), score, "name and street type"))
        if not lower_mode:
            # "12 main street" typed in lower case inside an otherwise capitalised text.
            for m in p.english_lower.finditer(text):
                if not any(_is_stop(w) for w in m.group("name").split()):
                    out.append(_Candidate(m.start(), m.end(), 0.5, "house number, name, street type"))
        return out

    @staticmethod
    def _rare_type_anchors(text: str, p: _Patterns) -> list[_Candidate]:
        """A house number, a name and a rarer USPS street type ("45 Maple Crossing"): weak, so an
        ordinary word after it ("3 Cedar Point rides") drops it."""
        out: list[_Candidate] = []
        for m in p.english_rare.finditer(text):
            if any(_is_stop(w) for w in m.group("name").split()):
                continue
            if _is_year_or_count(text, m.start("hn"), m.group("hn")):
                continue
            out.append(_Candidate(m.start(), m.end(), 0.35, "house number, name, street type", weak=True))
        return out

    @staticmethod
    def _prefix_anchors(text: str, p: _Patterns, lower_mode: bool) -> list[_Candidate]:
        """A street-type word before the name: "rue des Lilas", "Via Giuseppe Verdi 14"."""
        out: list[_Candidate] = []
        for m in p.prefix.finditer(text, overlapped=True):
            raw_type = m.group("type")
            street_type = raw_type.rstrip(".").lower()
            before = p.prefix_hn.search(text, max(0, m.start() - 20), m.start())
            hn, num = (before.group("hn") if before else None), m.group("num")
            name_words = [w for w in m.group("name").split() if w.lower() not in _PARTICLE_SET]
            if not name_words or name_words[0].lower() in NOT_LOCALITY_WORDS:
                continue
            if (
                street_type in _PREFIX_NEEDS_DOT
                and not raw_type.endswith(".")
                and not (hn and street_type in _PREFIX_DOTLESS_AFTER_NUMBER)
            ):
                continue
            start = before.start() if before else m.start("type")
            ambiguous = street_type not in _UNAMBIGUOUS_PREFIXES
            if not ambiguous:
                out.append(_Candidate(start, m.end(), 0.7 if hn or num else 0.5, "street-type prefix"))
                continue
            if not (hn or num) or (street_type == "via" and not num):
                continue  # Italian puts the number after "via": "at 10 via Zoom" is a time and a tool
            # "via Slack 2", "R. Kelly 3": a lower-case ambiguous prefix in English text, or a bare
            # "R" without numbers on both sides, is only weak evidence.
            if street_type == "c" and not regex.match(r"(?i:del?|la)\s", m.group("name")):
                continue  # Spanish "C. de Alcalá 20", not an initial ("C. Smith 3")
            french = bool(hn) and street_type in _FRENCH_AFTER_NUMBER
            # Polish "al. Róż 3/5", "os. Piastów 12": the dotted abbreviation and a house number
            # (not a year: "et al. Smith 2020").
            polish = (
                street_type in _POLISH_DOTTED
                and raw_type.endswith(".")
                and bool(num)
                and not _YEAR.fullmatch(num)
                and not text[max(0, m.start() - 3) : m.start()].lower().endswith("et ")
            )
            weak = (raw_type[0].islower() and not lower_mode and not (french or polish)) or (
                street_type == "r" and not (hn and num)
            )
            out.append(_Candidate(start, m.end(), 0.35 if weak else 0.6, "street-type prefix", weak=weak))
        return out

    def _number_anchors(self, text: str, p: _Patterns, taken: list[tuple[int, int]]) -> list[_Candidate]:
        """A name before a number: a compound street name ("Lindenstraat 12"), a name with a
        street type after it ("Berliner Allee 2", "Kossuth Lajos út 6"), or a bare "Name 12", which
        is weak and has to earn its score from the block around it."""
        out: list[_Candidate] = []
        for n in p.number.finditer(text):
            m = p.name_before_number.search(text, max(0, n.start() - _LOOKBACK), n.start())
            if m is None:
                continue
            start = _name_start(text, m.start("name"), m.end("name"))
            if start is None:
                continue
            words = text[start : m.end("name")].split()
            lows = m.group("low").split()
            last = (lows or words)[-1]
            folded = last.rstrip(".").lower()
            typed = folded in _POSTFIX_SET and (last.endswith(".") or folded not in _POSTFIX_NEEDS_DOT)
            if (typed and (lows or len(words) > 1)) or (lows and last in POSTFIX_TYPES_LOWER_ONLY):
                out.append(_Candidate(start, n.end(), 0.7, "street with type word"))
                continue
            if lows:
                continue  # lower-case words that are not a street type: "Python runs 3"
            suffix = _SUFFIX_AT_END.search(last)
            if (
                suffix is not None
                and suffix.start() >= 2
                and last.rstrip(".").lower() not in COMPOUND_FALSE_FRIENDS
            ):
                out.append(_Candidate(start, n.end(), 0.7, "compound street name"))
                continue
            if any(s < n.end() and start < e for s, e in taken):
                continue
            plain = [w.rstrip(".") for w in words if w.lower() not in _PARTICLE_SET]
            if not plain or any(_is_stop(w) for w in plain) or plain[0].lower() in _UNIT_SET:
                continue  # "Block 2", "Tower 5" are units, never the street itself
            if any(w.isupper() and len(w) <= 4 for w in plain) or max(len(w) for w in plain) < 3:
                continue  # acronyms, product codes, initials: "HTTP 2", "GPT 4", "SGB V Anlage 1"
            if len(n.group()) == 4 and n.group()[:2] in ("19", "20"):
                continue  # a year: "PyCon 2009", "Windows 2000"
            out.append(_Candidate(start, n.end(), self.WEAK_BASE, "name and number", weak=True))
        return out

    # ------------------------------------------------------------------------------ extension

    def _grow(self, text: str, p: _Patterns, c: _Candidate) -> _Candidate:
        """Extend an anchor over the rest of its address block and settle its score."""
        evidence = 0.0
        start, end = c.start, c.end
        # Backwards: house/building numbers, unit designators, "X and", "the corner of".
        numbers = units = houses = 0
        joined = False
        while True:
            lo = max(0, start - 80)
            m = p.back_unit.search(text, lo, start)
            if m and units < 2:
                start, units = m.start(), units + 1
                continue
            if houses < 1:
                # A house or building name before the street: "Rose Cottage, Mill Lane".
                m = p.back_house.search(text, lo, start)
                if m:
                    start, houses = m.start(), houses + 1
                    continue
            m = p.back_number.search(text, lo, start)
            # A number with a comma after it only right before the street ("12, chemin des Vignes"),
            # not further back ("Windows 10, 2016 Server").
            if m and (numbers or houses or units) and "," in m.group():
                m = None
            if m and numbers < 2 and not _is_year_or_count(text, m.start("n"), m.group("n")):
                start, numbers = m.start(), numbers + 1
                continue
            if not joined:
                m = p.back_and.search(text, lo, start)
                if m and m.group("w").lower() not in NOT_STREET_NAMES:
                    start, joined = m.start(), True
                    continue
                m = p.back_corner.search(text, lo, start)
                if m:
                    start, joined = m.start(), True
                    continue
            break
        if numbers:
            evidence += 0.15
        if units:
            evidence += 0.2
        if houses:
            evidence += 0.1
        # Forwards: units, box, locality, region, postcode, country, in the orders addresses use.
        prev = "street"
        localities = lines = 0
        for _ in range(10):
            sep = p.separator.match(text, end)
            if sep is None:
                break
            breaks = sep.group().count("\n")
            delimited = breaks > 0 or any(d in sep.group() for d in ",-\u2013")
            if lines + breaks > 6:
                break
            item, item_end = self._item(text, p, sep.end(), prev, delimited, localities, c.weak)
            if item is None or (c.weak and item == "postcode" and _YEAR.fullmatch(text, sep.end(), item_end)):
                break  # "Python 3, 2020 Edition": a year, not a postcode
            lines += breaks
            evidence += _EVIDENCE.get(item, 0.05 if delimited else 0.03)
            if item == "locality" and prev == "postcode":
                evidence += 0.07  # a postcode with its town: "6300 Zug", "75002 Paris"
            localities += item == "locality"
            end = item_end
            if item == "postcode" and prev == "country":
                break  # "Belgium 1000" closes the block
            prev = item
        if c.needs_block and prev == "street":
            return _Candidate(start, end, 0.0, c.kind, weak=True)
        if c.weak:
            if prev == "street":
                if p.street_word_after.match(text, end):
                    evidence += 0.3  # "Ostrova 27 street"
                elif p.lower_word_after.match(text, end):
                    return _Candidate(start, end, 0.0, c.kind, weak=True)  # "Redis 7 on port 6379"
            if p.back_preposition.search(text, max(0, start - 12), start):
                evidence += 0.05
        if _CUES.search(text, max(0, start - _CONTEXT_WINDOW), start):
            evidence += 0.3 if c.weak else 0.1
        # A strong anchor stands on its own; evidence only firms it up.
        score = c.score + (evidence if c.weak else min(evidence, 0.3) * 0.5)
        return _Candidate(start, end, min(score, self.MAX_SCORE), c.kind, c.weak)

    @staticmethod
    def _item(
        text: str, p: _Patterns, pos: int, prev: str, delimited: bool, localities: int, weak: bool = False
    ) -> tuple[str | None, int]:
        """The next part of an address block at `pos`, given the part before it."""
        if prev == "country":
            m = p.postcode.match(text, pos)
            return ("postcode", m.end()) if m else (None, pos)
        for kind, pattern in (("unit", p.unit), ("box", p.box)):
            m = pattern.match(text, pos)
            if m:
                return kind, m.end()
        if prev == "street" and not delimited:
            # A second street line: "Hauptstrasse 5 Rose Hill"
            m = p.second_street.match(text, pos)
            if m:
                return "second street", m.end()
            # A postcode and its town straight after a firm street: "12 rue X 75002 Paris".
            m = None if weak else p.postcode.match(text, pos)
            if m and (not m.group().isdigit() or len(m.group()) >= 4) and p.place_after.match(text, m.end()):
                return "postcode", m.end()
        if delimited and prev in ("street", "unit", "building", "landmark", "second street"):
            # The parts of an Indian address block: "12th Cross, 4th Main", "Sai Residency",
            # "near Hanuman Temple".
            parts = (("second street", p.ordinal_road), ("building", p.building), ("landmark", p.landmark))
            for kind, pattern in parts:
                m = pattern.match(text, pos)
                if m:
                    return kind, m.end()
        if delimited or prev in ("unit", "locality", "region", "building", "landmark"):
            m = p.postcode.match(text, pos)
            # Right after the street a postcode needs its place ("Hauptstr. 5, 10115 Berlin"):
            # a bare number after a comma is a list ("RFCs 7231, 7230").
            if m and (prev != "street" or p.place_after.match(text, m.end())):
                return "postcode", m.end()
        m = p.country.match(text, pos)
        if m and (delimited or prev != "street"):
            return "country", m.end()
        if prev in ("locality", "postcode"):
            m = p.region.match(text, pos)  # "OR", "ME", "IN" are states here, not words
            if m:
                return "region", m.end()
            m = p.region_before_postcode.match(text, pos)
            if m and m.group().lower() not in LOWER_STOPWORDS:
                return "region", m.end()
        if localities < 3 and (
            delimited or prev in ("unit", "box", "postcode", "second street", "building", "landmark")
        ):
            m = p.locality.match(text, pos)
            first = m.group("loc").split()[0].lower() if m else ""
            # "Figure 4", "Table 2" are labels with their numbers, not places ("Port Talbot" is one)
            labelled = first in LABEL_WORDS and m is not None and m.group().rstrip()[-1:].isdigit()
            if m and first not in NOT_LOCALITY_WORDS and not labelled:
                return "locality", m.end()
        return None, pos

    # ------------------------------------------------------------------------------ merging

    @staticmethod
    def _merge(text: str, candidates: list[_Candidate]) -> list[_Candidate]:
        """Union overlapping spans, then cut each at its line breaks: the lines of a block are
        masked one by one, so the line breaks and decorations between them stay as they were."""
        merged: list[_Candidate] = []
        for c in sorted(candidates, key=lambda c: c.start):
            if merged and c.start < merged[-1].end:
                last = merged[-1]
                last.end = max(last.end, c.end)
                if c.score > last.score:
                    last.score, last.kind = c.score, c.kind
                last.weak = last.weak and c.weak
            else:
                merged.append(_Candidate(c.start, c.end, c.score, c.kind, c.weak))
        return [
            _Candidate(m.start(), m.end(), c.score, c.kind, c.weak)
            for c in merged
            for m in _LINE_PIECE.finditer(text, c.start, c.end)
        ]
