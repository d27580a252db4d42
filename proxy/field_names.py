"""Field names that say what personal data their value holds: `name`, `email`, `telefono`, ...

Structured data names its own contents: `{"name": "Raven Pounds"}`, `Phone: 0151 496 0000`, a CSV
column `nachname`. This module is the one vocabulary of such names (pure, no I/O), used by the
body walker (a JSON value under such a key) and by the in-text recognizer (`Key: value` lines,
JSON pasted into a prompt, CSV headers). A key gives its value a type; whether the value looks like
one is decided elsewhere (`recognizers/fields.py`).

A key is split into words (snake_case, camelCase, kebab-case, dots, spaces), folded (case, accents)
and looked up whole, then by its last words: `customerEmail` is an e-mail by its last word. `name`
and `address` are different: `product_name`, `file_name` and `ip_address` are not personal, so a
qualifier before them must be a personal one (`first_name`, `billing_address`).

Written from general knowledge of form fields in English, German, French, Spanish, Italian, Dutch,
Polish and Portuguese; no evaluation data was used.
"""

from __future__ import annotations

import re
import unicodedata

PERSON = "PERSON"
EMAIL = "EMAIL_ADDRESS"
PHONE = "PHONE_NUMBER"
ADDRESS = "STREET_ADDRESS"
LOCATION = "LOCATION"
BIRTH_DATE = "DATE_OF_BIRTH"
IBAN = "IBAN_CODE"
NATIONAL_ID = "NATIONAL_ID"

def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Folded keys (no separators) -> type. Whole keys only; see `_LAST_WORD` for suffixes.
_WHOLE: dict[str, str] = {}


def _add(entity: str, keys: str) -> None:
    for key in keys.split():
        _WHOLE[key] = entity


_add(
    PERSON,
    """
    name first last fullname firstname lastname surname givenname givennames familyname middlename maidenname
    forename forenames displayname contactname customername clientname username nickname
    patientname employeename holdername accountholder cardholder cardholdername accountname
    recipient recipientname sendername guestname passengername membername studentname
    applicantname personname
    vorname vornamen nachname familienname geburtsname kundenname
    nom prenom prenoms nomdefamille nomcomplet
    nombre nombres apellido apellidos nombrecompleto
    nome cognome nomecompleto
    naam voornaam achternaam volledigenaam
    imie imiona nazwisko
    sobrenome
    """,
)
_add(
    EMAIL,
    """
    email emails mail emailaddress mailaddress eaddress
    emailadresse courriel adresseemail adressemail correo correoelectronico
    posta postaelettronica indirizzoemail emailadres adresemail
    """,
)
_add(
    PHONE,
    """
    phone phonenumber phoneno telephone telephonenumber tel telno mobile mobilenumber mobilephone
    cell cellphone cellnumber fax faxnumber contactnumber
    telefon telefonnummer handy handynummer mobilnummer mobiltelefon
    telephone portable numerodetelephone
    telefono numerodetelefono movil celular
    cellulare numeroditelefono
    telefoonnummer mobiel mobielnummer
    komorka numertelefonu
    """,
)
_add(
    ADDRESS,
    """
    address address1 address2 addressline addressline1 addressline2 streetaddress street
    homeaddress billingaddress shippingaddress deliveryaddress postaladdress mailingaddress
    residentialaddress postcode postalcode zip zipcode
    adresse anschrift strasse strase hausnummer lieferadresse rechnungsadresse plz postleitzahl
    rue codepostal adressepostale
    direccion domicilio calle codigopostal
    indirizzo via cap
    adres straat postcode huisnummer
    ulica kodpocztowy
    endereco morada rua
    """,
)
_add(
    LOCATION,
    """
    city town hometown birthplace placeofbirth
    stadt ort wohnort geburtsort ville ciudad localidad citta comune plaats woonplaats miasto
    cidade
    """,
)
_add(
    BIRTH_DATE,
    """
    dob dateofbirth birthdate birthday
    geburtsdatum geburtstag datedenaissance fechadenacimiento fechanacimiento datadinascita
    geboortedatum dataurodzenia datadenascimento
    """,
)
_add(IBAN, "iban bankaccount accountnumber kontonummer numerodecompte cuentabancaria contocorrente")
_add(
    NATIONAL_ID,
    """
    ssn socialsecuritynumber socialsecurity nationalid nationalidnumber nin nino
    nationalinsurancenumber taxid taxnumber tin passport passportnumber idnumber idcard
    personalausweis steuerid steueridentifikationsnummer sozialversicherungsnummer
    rentenversicherungsnummer svnr numerosecu numerodesecuritesociale nir dni nie nif
    codicefiscale bsn burgerservicenummer pesel aadhaar pan
    """,
)

# Keys that hold a surname or a full name and nothing else: any name-shaped value under them is
# one, also an English word ("Baker", "Fischer"); a bare `name` may be a step's or a service's.
SURNAME_KEYS = words(
    """
    lastname surname familyname fullname maidenname nachname familienname geburtsname nom
    nomdefamille nomcomplet apellido apellidos nombrecompleto cognome nomecompleto achternaam
    volledigenaam nazwisko sobrenome firstname givenname forename vorname prenom nombre nome
    voornaam imie customername contactname patientname holdername cardholdername first last
    """
)

# Last words that are enough on their own, whatever comes before them.
_LAST_WORD = {
    key: entity
    for key, entity in _WHOLE.items()
    if entity in (EMAIL, PHONE, BIRTH_DATE, IBAN) and key not in ("mail", "posta", "cell", "tel")
}
# `name` and `address` after these qualifiers only (`product_name`, `ip_address` are not personal).
_PERSON_QUALIFIERS = words(
    """
    first last full given family middle maiden display contact customer client user nick patient
    employee holder card account recipient sender guest passenger member student applicant person
    legal real birth owner
    """
)
_ADDRESS_QUALIFIERS = words(
    """
    home billing shipping delivery postal mailing street residential permanent current customer
    contact private work business invoice
    """
)

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[\s_\-.\[\]/]+")


def key_words(key: str) -> list[str]:
    """A key as folded words: `billingAddress_2` -> ["billing", "address", "2"]."""
    decomposed = unicodedata.normalize("NFKD", key.strip())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).replace("ß", "ss")
    return [word.casefold() for word in _WORD_BOUNDARY.split(plain) if word]


def field_type(key: str) -> str | None:
    """The personal-data type a field of this name holds, or None."""
    if not key or len(key) > 64:
        return None
    words = [word for word in key_words(key) if not word.isdigit()]
    if not words or len(words) > 5:
        return None
    whole = _WHOLE.get("".join(words))
    if whole is not None:
        return whole
    last = words[-1]
    if last in _LAST_WORD:
        return _LAST_WORD[last]
    if len(words) >= 2:
        if last == "name" and words[-2] in _PERSON_QUALIFIERS:
            return PERSON
        if last == "address" and words[-2] in _ADDRESS_QUALIFIERS:
            return ADDRESS
        two = _WHOLE.get(words[-2] + last)
        if two is not None and two not in (PERSON, ADDRESS, LOCATION):
            return two
    return None


def labelled(key: str | None, value: str) -> tuple[str, int]:
    """The text detection reads for a JSON value, and how many characters precede the value in it.

    A value under a personal field name is read as the line `key: value`, so the name is evidence
    for it (`recognizers/fields.py`) as it would be in pasted text; any other value as it is."""
    if key is None or "\n" in key or field_type(key) is None:
        return value, 0
    # The key as words ("contact_name" -> "contact name"): a snake_case key before a colon reads as
    # a line of configuration, where names that are also English words are left alone.
    prefix = " ".join(key_words(key)) + ": "
    return prefix + value, len(prefix)
