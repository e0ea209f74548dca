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

import bisect
import itertools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

MAX_EVIDENCE_CHARS = 200  # of the line shown to a reviewer
TATWEEL = "\u0640"
WORD = re.compile(r"[^\W_]+")
DIGIT = re.compile(r"\d")
NON_ASCII = re.compile(r"[^\x00-\x7f]")

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
    if text.isascii():
        return text.casefold()
    return NON_ASCII.sub(_fold_char, unicodedata.normalize("NFKD", text)).casefold()


def _fold_char(match: re.Match) -> str:
    char = match.group()
    if unicodedata.combining(char) or char == TATWEEL:
        return ""
    if char.isdigit():
        digit = unicodedata.decimal(char, None)
        return char if digit is None else str(digit)
    return char


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
TWO_WORD_MONTH = re.compile(
    "|".join(re.escape(fold(name)).replace(r"\ ", "[ \t]+") for name in TWO_WORD_MONTHS.values())
)
# A run of numbers joined by / . or - (spaces allowed around them): 12/03/1980, 1980-03-12, and
# also 06.12.34.56.78, which has too many parts to be a date. Dates are read within one line.
NUMBER_RUN = re.compile(r"\d+(?:[ \t]*[/.\-][ \t]*\d+)+")
NUMBER_PART = re.compile(r"\d+")
NAME_WORD = re.compile(r"[^\W\d_]+")
# Around a month name: the day before it (12, 1er, 12th, 12th of) and the year after it, or the
# day and the year after it (March 12, 1980; Mar 12th 1980).
DAY_BEFORE = re.compile(r"(?<!\d)(\d{1,2})(?:er|re|st|nd|rd|th)?\.?[ \t]*(?:of[ \t]+)?$")
YEAR_AFTER = re.compile(r"\.?,?[ \t]*(\d{4})(?!\d)")
DAY_YEAR_AFTER = re.compile(r"\.?[ \t]*(\d{1,2})(?:st|nd|rd|th)?(?![^\W\d_]),?[ \t]*(\d{4})(?!\d)")
LOOK_BEHIND_CHARS = 12


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def dates_in(line: str) -> set[str]:
    """Return the ISO dates a line of text states, in any of the forms this module reads."""
    return {iso for _, iso in _scan_dates(" ".join(fold(line).split()))}


def _scan_dates(folded: str) -> list[tuple[int, str]]:
    """Return (position, ISO date) for every date stated in folded text (lines never joined)."""
    found: list[tuple[int, str]] = []
    if not DIGIT.search(folded):
        return found
    for run in NUMBER_RUN.finditer(folded):
        parts = NUMBER_PART.findall(run.group())
        if len(parts) != 3:
            continue
        sizes = tuple(len(part) for part in parts)
        first, second, third = (int(part) for part in parts)
        if sizes[0] == 4 and sizes[1] <= 2 and sizes[2] <= 2:  # 1980-03-12
            candidates = [_iso(first, second, third)]
        elif sizes[0] <= 2 and sizes[1] <= 2 and sizes[2] == 4:  # 12/03/1980, day first
            candidates = [_iso(third, second, first)]
        elif sizes[0] <= 2 and sizes[1] <= 2 and sizes[2] == 2:  # 12/03/80: either century
            candidates = [_iso(1900 + third, second, first), _iso(2000 + third, second, first)]
        else:
            continue
        found.extend((run.start(), iso) for iso in candidates if iso)
    for word in NAME_WORD.finditer(folded):
        month, end = MONTHS.get(word.group()), word.end()
        if month is None:
            pair = TWO_WORD_MONTH.match(folded, word.start())
            if pair is None:
                continue
            month, end = MONTHS[" ".join(pair.group().split())], pair.end()
        before = DAY_BEFORE.search(folded[max(0, word.start() - LOOK_BEHIND_CHARS) : word.start()])
        year = YEAR_AFTER.match(folded, end)
        if before and year:
            iso = _iso(int(year.group(1)), month, int(before.group(1)))
            if iso:
                found.append((word.start(), iso))
            continue
        after = DAY_YEAR_AFTER.match(folded, end)
        if after:
            iso = _iso(int(after.group(2)), month, int(after.group(1)))
            if iso:
                found.append((word.start(), iso))
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


class DocumentText:
    """One document's text, read once: its lines' words and dates, for any number of lookups."""

    def __init__(self, text: str):
        self.lines: list[_Line] = []
        folded_lines = []
        for page_number, page in enumerate(text.split("\f"), start=1):
            for line_number, line in enumerate(page.split("\n"), start=1):
                folded = " ".join(fold(line).split())
                line_words = tuple(WORD.findall(folded))
                if line_words:
                    self.lines.append(
                        _Line(
                            page_number, line_number, line.strip()[:MAX_EVIDENCE_CHARS], line_words
                        )
                    )
                    folded_lines.append(folded)
        # Dates: one scan of the folded lines, each date then placed on its line.
        starts, offset = [], 0
        for folded in folded_lines:
            starts.append(offset)
            offset += len(folded) + 1
        self.dates: dict[str, int] = {}  # ISO date -> index of the first line stating it
        for position, iso in _scan_dates("\n".join(folded_lines)):
            index = bisect.bisect_right(starts, position) - 1
            if index < self.dates.get(iso, len(self.lines)):
                self.dates[iso] = index
        self._name_keys: set[str] | None = None

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
        index = self.dates.get(iso)
        if index is None:
            return Evidence(key, iso, False)
        line = self.lines[index]
        return Evidence(key, iso, True, line.page, line.number, line.text)

    def names(self, value: str) -> bool:
        return self.find_name("", value).found

    def states(self, iso: str) -> bool:
        return self.find_date("", iso).found

    def name_keys(self) -> set[str]:
        """Every run of 1 to 3 consecutive words of a line, spaced and joined (for lookups)."""
        if self._name_keys is None:
            keys: set[str] = set()
            for line in self.lines:
                ws = line.words
                keys.update(ws)
                keys.update(f"{a} {b}" for a, b in itertools.pairwise(ws))
                keys.update(a + b for a, b in itertools.pairwise(ws))
                keys.update(f"{a} {b} {c}" for a, b, c in zip(ws, ws[1:], ws[2:], strict=False))
                keys.update(a + b + c for a, b, c in zip(ws, ws[1:], ws[2:], strict=False))
            self._name_keys = keys
        return self._name_keys


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
