"""Grounding: is a value the LLM extracted written in the document, and where (job.py's side).

The default job matches a person only on values found in the document's own text (the text layer
or the OCR text: pages separated by form feeds, lines by newlines). This module says, for a name
or a date, on which page and line the document states it, or that it does not.

Normalisation, the same on both sides (the value and the text):
- Unicode NFKD, then combining marks dropped: accents (é -> e), Arabic harakat and the hamza or
  madda written over a letter (أ -> ا), so a value matches however it was typed; the tatweel
  (kashida) is dropped too. Arabic letters are otherwise compared as written: no transliteration.
- case folded (Straße -> strasse); Arabic-Indic and Eastern Arabic digits read as 0-9.
- names are compared as words: anything that is not a letter or a digit (spaces, hyphens,
  apostrophes, dots, commas) separates words. A name is found when a run of whole words of one
  line, put together, spells it: "Jean-Pierre" is found in "JEAN PIERRE" and "Jean-Pierre",
  "Ben Ali" in "Benali" and the other way round, "O'Brien" in "OBRIEN". A word is never cut:
  "Marie" is not found in "Mariette", nor "Martin" in "Martine". A name split over two lines is
  not found (the reviewer sees why).
- dates: 12/03/1980, 12.03.1980, 12-03-1980 (day first, as French documents write them: 03/02/1980
  is 3 February), 12/03/80 (either century), 1980-03-12, 1980/03/12, 12 mars 1980, 1er mars 1980,
  12 March 1980, 12th March 1980, March 12, 1980, 12 Mar 1980, 12 févr. 1980, and the Gregorian
  month names written in Arabic (Egypt, the Levant, the Maghreb: 12 مارس 1980, 12 آذار 1980).
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

MAX_EVIDENCE_CHARS = 200  # of the line shown to a reviewer
TATWEEL = "\u0640"
WORD = re.compile(r"[^\W_]+")

MONTH_NAMES = {
    1: "janvier janv jan january يناير جانفي كانون الثاني",
    2: "fevrier fevr fev feb february فبراير فيفري شباط",
    3: "mars mar march مارس آذار",
    4: "avril avr apr april أبريل ابريل إبريل أفريل نيسان",
    5: "mai may مايو ماي أيار",
    6: "juin jun june يونيو يونيه جوان حزيران",
    7: "juillet juil jul july يوليو يوليه يوليوز جويلية تموز",
    8: "aout aug august أغسطس اغسطس غشت أوت آب",
    9: "septembre sept sep september سبتمبر شتنبر أيلول",
    10: "octobre oct october أكتوبر اكتوبر تشرين الأول",
    11: "novembre nov november نوفمبر نونبر تشرين الثاني",
    12: "decembre dec december ديسمبر دجنبر كانون الأول",
}
# Two-word Arabic names ("كانون الثاني") are listed word by word above; they are kept whole here.
TWO_WORD_MONTHS = {
    1: "كانون الثاني",
    10: "تشرين الأول",
    11: "تشرين الثاني",
    12: "كانون الأول",
}


def fold(text: str) -> str:
    """Normalise text for comparison: no accents, harakat or tatweel, case folded, 0-9 digits."""
    decomposed = unicodedata.normalize("NFKD", text)
    out = []
    for char in decomposed:
        if unicodedata.combining(char) or char == TATWEEL:
            continue
        if char.isdigit() and not char.isascii():
            digit = unicodedata.decimal(char, None)
            out.append(str(digit) if digit is not None else char)
            continue
        out.append(char)
    return "".join(out).casefold()


def words(text: str) -> list[str]:
    """Return the words of a text after fold(): letters and digits, everything else a separator."""
    return WORD.findall(fold(text))


def _month_names() -> dict[str, int]:
    names = {}
    for month, spelled in MONTH_NAMES.items():
        for name in spelled.split():
            names[fold(name)] = month
    for name, month in ((fold(n), m) for m, n in TWO_WORD_MONTHS.items()):
        names[name] = month
    # "الثاني" and "الأول" alone are not months: only with the word before them.
    for part in ("الثاني", "الأول", "كانون", "تشرين"):
        names.pop(fold(part), None)
    return names


MONTHS = _month_names()
_MONTH = "|".join(sorted((re.escape(name) for name in MONTHS), key=len, reverse=True))
_SEP = r"\s*[/.\-]\s*"
_ORDINAL = r"(?:er|re|st|nd|rd|th)?"
# A numeric date ends where the digits do, and is not the start of a longer number (a phone
# number 06.12.34.56.78 states no date).
_START = r"(?<!\d)(?<!\d[/.\-])"
_END = r"(?!\d|\s*[/.\-]\s*\d)"
_DAY = r"(\d{1,2})"
_YEAR = r"(\d{4})"
_NAME = "(" + _MONTH + ")"
_NOT_LETTER = r"(?![^\W\d_])"
DATE_FORMS = (
    # 12/03/1980, 12.03.1980, 12-03-1980, 12/03/80: day first
    ("dmy", re.compile(_START + _DAY + _SEP + _DAY + _SEP + r"(\d{4}|\d{2})" + _END)),
    # 1980-03-12, 1980/03/12, 1980.03.12
    ("ymd", re.compile(_START + _YEAR + _SEP + _DAY + _SEP + _DAY + _END)),
    # 12 mars 1980, 1er mars 1980, 12th March 1980, 12 Mar. 1980, 12th of March 1980
    (
        "dMy",
        re.compile(
            r"(?<!\d)"
            + _DAY
            + _ORDINAL
            + r"\.?\s*(?:of\s+)?"
            + _NAME
            + _NOT_LETTER
            + r"\.?,?\s*"
            + _YEAR
            + r"(?!\d)"
        ),
    ),
    # March 12, 1980, Mar 12th 1980
    (
        "Mdy",
        re.compile(
            r"(?<![^\W\d_])"
            + _NAME
            + r"\.?\s*"
            + _DAY
            + _ORDINAL
            + _NOT_LETTER
            + r",?\s*"
            + _YEAR
            + r"(?!\d)"
        ),
    ),
)
# (Patterns are joined from parts, not f-strings: this file is rendered as a template, where
# doubled braces would be read as template tags.)


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def dates_in(line: str) -> set[str]:
    """Return the ISO dates a line of text states, in any of the forms this module reads."""
    folded = " ".join(fold(line).split())
    found: set[str] = set()
    for form, pattern in DATE_FORMS:
        for match in pattern.finditer(folded):
            if form == "dmy":
                day, month, year = (int(group) for group in match.groups())
                years = [year] if len(match.group(3)) == 4 else [1900 + year, 2000 + year]
                candidates = [_iso(y, month, day) for y in years]
            elif form == "ymd":
                year, month, day = (int(group) for group in match.groups())
                candidates = [_iso(year, month, day)]
            elif form == "dMy":
                day, name, year = match.groups()
                candidates = [_iso(int(year), MONTHS[name], int(day))]
            else:
                name, day, year = match.groups()
                candidates = [_iso(int(year), MONTHS[name], int(day))]
            found.update(iso for iso in candidates if iso)
    return found


@dataclass(frozen=True)
class Evidence:
    """Where the document states an extracted value (page and line from 1), or that it does not."""

    key: str
    value: str
    found: bool
    page: int | None = None
    line: int | None = None
    text: str | None = None

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "value": self.value,
            "found": self.found,
            "page": self.page,
            "line": self.line,
            "text": self.text,
        }


@dataclass(frozen=True)
class _Line:
    page: int
    number: int
    text: str
    words: tuple[str, ...]
    dates: frozenset[str]


class DocumentText:
    """One document's text, read once: its lines' words and dates, for any number of lookups."""

    def __init__(self, text: str):
        self.lines: list[_Line] = []
        for page_number, page in enumerate(text.split("\f"), start=1):
            for line_number, line in enumerate(page.split("\n"), start=1):
                line_words = tuple(words(line))
                if line_words:
                    self.lines.append(
                        _Line(
                            page_number,
                            line_number,
                            line.strip()[:MAX_EVIDENCE_CHARS],
                            line_words,
                            frozenset(dates_in(line)),
                        )
                    )
        self.vocabulary = {word for line in self.lines for word in line.words}

    def find_name(self, key: str, value: str) -> Evidence:
        """Find a name as whole words of one line (see the module's rules)."""
        wanted = "".join(words(value))
        if wanted:
            for line in self.lines:
                if _spelled_by_words(wanted, line.words):
                    return Evidence(key, value, True, line.page, line.number, line.text)
        return Evidence(key, value, False)

    def find_date(self, key: str, iso: str) -> Evidence:
        """Find an ISO date written in any of the forms this module reads."""
        for line in self.lines:
            if iso in line.dates:
                return Evidence(key, iso, True, line.page, line.number, line.text)
        return Evidence(key, iso, False)

    def names(self, value: str) -> bool:
        return self.find_name("", value).found

    def states(self, iso: str) -> bool:
        return self.find_date("", iso).found

    def name_keys(self, longest: int = 3) -> set[str]:
        """Every run of 1 to `longest` consecutive words of a line, spaced and joined (lookups)."""
        keys = set()
        for line in self.lines:
            for start in range(len(line.words)):
                for end in range(start + 1, min(start + longest, len(line.words)) + 1):
                    run = line.words[start:end]
                    keys.add(" ".join(run))
                    keys.add("".join(run))
        return keys


def _spelled_by_words(wanted: str, line_words: tuple[str, ...]) -> bool:
    """Whether consecutive whole words of the line, put together, are exactly `wanted`."""
    for start, word in enumerate(line_words):
        if not wanted.startswith(word):
            continue
        spelled = word
        index = start + 1
        while len(spelled) < len(wanted) and index < len(line_words):
            spelled += line_words[index]
            index += 1
            if not wanted.startswith(spelled):
                break
        if spelled == wanted:
            return True
    return False
