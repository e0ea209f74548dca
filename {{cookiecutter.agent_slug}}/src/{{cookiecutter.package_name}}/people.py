"""The default job's people table: whom a document can be matched to (job.py's side).

The table lives in the agent's database (agent.db), where agents before the Job protocol created
it: their databases open unchanged. A job with no people deletes this module with its import.
Every statement is parameterized, like security/db.py's.
"""

import csv
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .runtime.protocol import SetupError

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS people ("
    " id INTEGER PRIMARY KEY,"
    " last_name TEXT NOT NULL,"
    " first_name TEXT NOT NULL DEFAULT '',"
    " birth_date TEXT NOT NULL DEFAULT '',"
    " last_name_key TEXT NOT NULL,"
    " first_name_key TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS people_last_name_key ON people (last_name_key)",
)
# SQLite INTEGER PRIMARY KEY range.
MIN_ID, MAX_ID = -(2**63), 2**63 - 1
PEOPLE_COLUMNS = ("id", "last_name", "first_name", "birth_date")


class PeopleFileError(SetupError):
    """The people CSV cannot be imported; the message says where and why."""


@dataclass(frozen=True)
class Person:
    id: int
    last_name: str
    first_name: str
    birth_date: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def name_key(text: str | None) -> str:
    """Compare names without case, accents or punctuation: 'Lévêque-Ö' -> 'leveque o'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.casefold().split())


class People:
    """The people table of one agent's database (security/db.py's Database)."""

    def __init__(self, db):
        self.db = db
        with db.write() as connection:
            for statement in SCHEMA:
                connection.execute(statement)

    def upsert(self, person: Person) -> None:
        with self.db.write() as connection:
            connection.execute(
                "INSERT INTO people (id, last_name, first_name, birth_date, last_name_key,"
                " first_name_key) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " last_name=excluded.last_name, first_name=excluded.first_name,"
                " birth_date=excluded.birth_date, last_name_key=excluded.last_name_key,"
                " first_name_key=excluded.first_name_key",
                (
                    person.id,
                    person.last_name,
                    person.first_name,
                    person.birth_date,
                    name_key(person.last_name),
                    name_key(person.first_name),
                ),
            )

    def import_csv(self, path: Path) -> int:
        """Upsert every row of a people CSV (id,last_name,first_name,birth_date); count them."""
        people = read_people_csv(path)
        for person in people:
            self.upsert(person)
        return len(people)

    def by_last_name(self, last_name: str) -> list[Person]:
        rows = self.db.connection.execute(
            "SELECT id, last_name, first_name, birth_date FROM people WHERE last_name_key = ?"
            " ORDER BY id",
            (name_key(last_name),),
        ).fetchall()
        return [Person(**dict(row)) for row in rows]

    def by_last_name_keys(self, keys) -> list[Person]:
        """Return the people whose last name key is one of these (e.g. every word run of a text)."""
        rows = self.db.connection.execute(
            "SELECT id, last_name, first_name, birth_date FROM people WHERE last_name_key IN"
            " (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(list(set(keys))),),
        ).fetchall()
        return [Person(**dict(row)) for row in rows]

    def get(self, person_id: int) -> Person | None:
        row = self.db.connection.execute(
            "SELECT id, last_name, first_name, birth_date FROM people WHERE id = ?", (person_id,)
        ).fetchone()
        return Person(**dict(row)) if row else None

    def count(self) -> int:
        return self.db.connection.execute("SELECT COUNT(*) FROM people").fetchone()[0]


def read_people_csv(path: Path) -> list[Person]:
    """Read a people CSV whole, or raise PeopleFileError naming the line and the fix."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = set(PEOPLE_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise PeopleFileError(
                    f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                    f"the header must be {','.join(PEOPLE_COLUMNS)}"
                )
            people = []
            for row in reader:
                try:
                    person = Person(
                        int(row["id"]),
                        row["last_name"].strip(),
                        (row["first_name"] or "").strip(),
                        (row["birth_date"] or "").strip(),
                    )
                    if not MIN_ID <= person.id <= MAX_ID or not person.last_name:
                        raise ValueError
                except (TypeError, ValueError, AttributeError):
                    raise PeopleFileError(
                        f"{path} line {reader.line_num}: id must be a whole number "
                        f"(up to {MAX_ID}) and last_name must be given"
                    ) from None
                people.append(person)
    except csv.Error as error:
        raise PeopleFileError(f"{path} is not a valid CSV file: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PeopleFileError(f"cannot read people file {path}: {error}") from None
    return people
