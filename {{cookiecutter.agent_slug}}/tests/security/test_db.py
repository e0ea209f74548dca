"""The SQLite database: WAL, immediate writes, and hostile strings that stay plain data."""

import csv
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.people import (
    PEOPLE_COLUMNS,
    People,
    PeopleFileError,
    Person,
    name_key,
)
from {{ cookiecutter.package_name }}.security.db import BUSY_TIMEOUT_SECONDS, Database

HOSTILE = [
    "'; DROP TABLE people; --",
    '" OR 1=1 --',
    "' OR ''='",
    "Robert'); DROP TABLE items;--",
    "x\x00y",
    "\x00",
    "Zoë Ünïcödé 名前 🙂",
    "x" * 10_000,
    "%",
    "_",
    "\\",
    "",
]
SEEDED = [
    Person(1, "Doe", "Jane", "1980-01-01"),
    Person(2, "Martin", "Marie", "1975-05-05"),
    Person(3, "Lévêque", "Zoé", ""),
]
TABLES = ("people", "items", "reviews")
SQLITE_INTEGERS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "agent.db")
    yield database
    database.close()


@pytest.fixture
def people(db):
    return People(db)


@pytest.fixture
def seeded(db, people):
    for person in SEEDED:
        people.upsert(person)
    db.start_attempt("hash-1", "item-1", "doc.pdf")
    choices = [vars(person) for person in SEEDED]
    db.add_review("item-1", "review/doc.pdf", "several candidates", {"last_name": "Doe"}, choices)
    return db


def schema(db: Database) -> list[tuple]:
    return [
        tuple(row)
        for row in db.connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
    ]


def counts(db: Database) -> dict[str, int]:
    return {table: People(db).count() if table == "people" else db.count(table) for table in TABLES}


def write_csv(path: Path, rows: list[list], header=PEOPLE_COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# Connection ----------------------------------------------------------------------------------


def test_wal_mode_and_busy_timeout_are_set(db):
    assert db.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.connection.execute("PRAGMA busy_timeout").fetchone()[0] == (
        BUSY_TIMEOUT_SECONDS * 1000
    )
    # WAL is a property of the file: every later connection (the CLI) gets it too.
    other = sqlite3.connect(db.path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_a_write_transaction_takes_the_write_lock_at_once_and_readers_go_on(seeded):
    other = sqlite3.connect(seeded.path, timeout=0, isolation_level=None)
    try:
        with seeded.write():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            assert other.execute("SELECT COUNT(*) FROM people").fetchone()[0] == len(SEEDED)
    finally:
        other.close()


def test_a_failed_write_block_rolls_back(seeded, people):
    with pytest.raises(RuntimeError), seeded.write() as connection:
        connection.execute("DELETE FROM people")
        raise RuntimeError("crash inside the transaction")

    assert people.count() == len(SEEDED)


def test_reopening_keeps_the_data(tmp_path):
    first = Database(tmp_path / "agent.db")
    People(first).upsert(SEEDED[0])
    first.close()

    second = Database(tmp_path / "agent.db")
    try:
        assert People(second).get(1) == SEEDED[0]
    finally:
        second.close()


# Hostile strings -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_lookups_find_nothing_and_change_nothing(seeded, text, people):
    before_schema, before_counts = schema(seeded), counts(seeded)

    assert people.by_last_name(text) == []
    assert seeded.item(text) is None
    assert seeded.item_by_id(text) is None
    assert seeded.review(text) is None
    assert seeded.reviews(text) == []
    seeded.finish_item(text, text, outbox=text, reason=text)
    seeded.give_back_attempt(text)
    seeded.decide_review(text, text, {"note": text})
    with pytest.raises(KeyError):
        seeded.count(text)

    assert schema(seeded) == before_schema
    assert counts(seeded) == before_counts
    assert seeded.item("hash-1")["status"] == "processing"
    assert seeded.review("item-1")["status"] == "pending"


def test_hostile_values_are_stored_and_read_back_verbatim(seeded, people):
    before_schema, before_counts = schema(seeded), counts(seeded)

    for number, text in enumerate(HOSTILE, start=100):
        person = Person(number, text, text, text)
        people.upsert(person)
        assert people.get(number) == person
        assert person in people.by_last_name(text)

        content_hash = f"{text}#{number}"
        assert seeded.start_attempt(content_hash, text + "-id", text) == 1
        seeded.finish_item(content_hash, "done", outbox=text, reason=text)
        row = seeded.item(content_hash)
        assert (row["name"], row["outbox"], row["reason"]) == (text, text, text)
        assert seeded.item_by_id(text + "-id")["content_hash"] == content_hash

        item_id = f"review-{number}-{text}"
        seeded.add_review(item_id, text, text, {"field": text}, [vars(person)])
        seeded.decide_review(item_id, "resolved", {"note": text})
        review = seeded.review(item_id)
        assert (review["file"], review["reason"]) == (text, text)
        assert review["fields"] == {"field": text}
        assert review["choices"] == [vars(person)]
        assert review["decision"] == {"note": text}

    added = len(HOSTILE)
    assert schema(seeded) == before_schema
    assert counts(seeded) == {table: before_counts[table] + added for table in TABLES}
    assert [p.last_name for p in people.by_last_name("doe")] == ["Doe"]


@PROPERTY_SETTINGS
@given(last_name=st.text())
def test_people_by_last_name_matches_only_equal_name_keys(seeded, last_name, people):
    before_schema, before_counts = schema(seeded), counts(seeded)

    found = people.by_last_name(last_name)

    assert found == [p for p in SEEDED if name_key(p.last_name) == name_key(last_name)]
    assert schema(seeded) == before_schema
    assert counts(seeded) == before_counts


@PROPERTY_SETTINGS
@given(person_id=SQLITE_INTEGERS, last=st.text(), first=st.text(), birth=st.text())
def test_upsert_round_trips_any_text(db, person_id, last, first, birth, people):
    person = Person(person_id, last, first, birth)

    people.upsert(person)

    assert people.get(person_id) == person
    assert person in people.by_last_name(last)


CSV_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=50,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(SQLITE_INTEGERS, CSV_TEXT.filter(str.strip), CSV_TEXT, CSV_TEXT),
        max_size=5,
        unique_by=lambda row: row[0],
    )
)
def test_import_round_trips_any_text(db, tmp_path, rows, people):
    path = write_csv(tmp_path / "people.csv", [list(row) for row in rows])

    assert people.import_csv(path) == len(rows)

    for person_id, last, first, birth in rows:
        assert people.get(person_id) == Person(
            person_id, last.strip(), first.strip(), birth.strip()
        )


# People import -------------------------------------------------------------------------------


def test_import_people_reads_the_sample_shape(db, tmp_path, people):
    path = write_csv(
        tmp_path / "people.csv",
        [[1, "Doe", "Jane", "1980-01-01"], [2, " Martin ", "", ""], [3, "Lévêque", "Zoé", ""]],
    )

    assert people.import_csv(path) == 3
    assert people.get(2) == Person(2, "Martin", "", "")
    assert people.by_last_name("LEVEQUE") == [Person(3, "Lévêque", "Zoé", "")]


def test_import_people_names_a_missing_column(db, tmp_path, people):
    path = write_csv(tmp_path / "people.csv", [[1, "Doe"]], header=("id", "last_name"))

    with pytest.raises(PeopleFileError, match="missing column\\(s\\) birth_date, first_name"):
        people.import_csv(path)
    assert people.count() == 0


@pytest.mark.parametrize("bad_id", ["abc", "", "1.5", "'; DROP TABLE people; --"])
def test_import_people_names_the_line_of_a_bad_id(db, tmp_path, bad_id, people):
    path = write_csv(tmp_path / "people.csv", [[1, "Doe", "Jane", ""], [bad_id, "Roe", "", ""]])

    with pytest.raises(PeopleFileError, match="line 3: id must be a whole number"):
        people.import_csv(path)
    assert people.count() == 0


def test_import_people_names_the_line_of_an_id_too_large_for_sqlite(db, tmp_path, people):
    path = write_csv(tmp_path / "people.csv", [[1, "Doe", "", ""], [2**64, "Roe", "", ""]])

    with pytest.raises(PeopleFileError, match="line 3"):
        people.import_csv(path)
    assert people.count() == 0


def test_import_people_refuses_a_file_that_is_not_csv_text(db, tmp_path, people):
    binary = tmp_path / "people.csv"
    binary.write_bytes(b"id,last_name,first_name,birth_date\n1,\xff\xfe,x,\n")

    with pytest.raises(PeopleFileError, match="cannot read people file"):
        people.import_csv(binary)


def test_import_people_refuses_a_broken_csv_with_one_clear_error(db, tmp_path, people):
    # An unterminated quote swallows the rest of the file into one oversized field.
    broken = tmp_path / "people.csv"
    broken.write_text(
        'id,last_name,first_name,birth_date\n1,"Doe,Jane,\n' + "x" * 200_000 + "\n",
        encoding="utf-8",
    )

    with pytest.raises(PeopleFileError):
        people.import_csv(broken)


def test_import_people_refuses_a_missing_file(db, tmp_path, people):
    with pytest.raises(PeopleFileError, match="cannot read people file"):
        people.import_csv(tmp_path / "missing.csv")


# Idempotence and names -----------------------------------------------------------------------


def test_upsert_is_idempotent_and_updates_in_place(db, people):
    people.upsert(SEEDED[0])
    people.upsert(SEEDED[0])
    assert people.count() == 1

    renamed = Person(1, "Doe-Smith", "Jane", "1980-01-01")
    people.upsert(renamed)

    assert people.count() == 1
    assert people.get(1) == renamed
    assert people.by_last_name("Doe") == []
    assert people.by_last_name("doe smith") == [renamed]


def test_importing_the_same_file_twice_changes_nothing(db, tmp_path, people):
    rows = [[p.id, p.last_name, p.first_name, p.birth_date] for p in SEEDED]
    path = write_csv(tmp_path / "people.csv", rows)

    people.import_csv(path)
    first = [people.get(p.id) for p in SEEDED]
    people.import_csv(path)

    assert people.count() == len(SEEDED)
    assert [people.get(p.id) for p in SEEDED] == first == SEEDED


def test_start_attempt_counts_attempts_for_the_same_content(db):
    assert db.start_attempt("hash", "item", "a.pdf") == 1
    assert db.start_attempt("hash", "item", "a.pdf") == 2
    db.give_back_attempt("hash")

    assert db.item("hash")["attempts"] == 1
    assert db.item("hash")["status"] == "waiting"
    assert db.count("items") == 1


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Lévêque", "LEVEQUE"),
        ("Müller", "muller"),
        ("Straße", "STRASSE"),
        ("O'Brien", "o brien"),
        ("  Jean   Pierre ", "jean-pierre"),
        ("Ångström", "angstrom"),
        ("Çelik", "celik"),
    ],
)
def test_name_key_folds_case_accents_and_punctuation(left, right):
    assert name_key(left) == name_key(right)


def test_name_key_examples():
    assert name_key("Lévêque-Ö") == "leveque o"
    assert name_key(None) == ""
    assert name_key("   ") == ""
    assert name_key("Doe") != name_key("Roe")


def test_lookup_ignores_case_and_accents(seeded, people):
    assert people.by_last_name("leveque") == [SEEDED[2]]
    assert people.by_last_name("DOE") == [SEEDED[0]]
