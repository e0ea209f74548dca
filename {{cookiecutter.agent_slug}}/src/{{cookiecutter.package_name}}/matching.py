"""The default job's matching rules: one person, only on what the document itself says.

Records are people: we never guess. Every value a match is decided on must be written in the
document's own text (grounding.py finds where); the database rules then pick exactly one person
or hand the item to a human with the candidates and the reason.
"""

from dataclasses import dataclass, field

from .grounding import DocumentText, Evidence
from .people import People, Person, name_key

LABELS = {"last_name": "last name", "first_name": "first name", "birth_date": "birth date"}


@dataclass
class Match:
    """What the rules decided: the one person, or None with the candidates and the reason."""

    person: Person | None
    candidates: list[Person]
    reason: str
    evidence: list[dict] = field(default_factory=list)


def deciding_values(fields: dict) -> dict[str, str]:
    """The extracted values the match is decided on (a first name without letters decides none)."""
    values = {"last_name": fields["last_name"]}
    if name_key(fields.get("first_name")):
        values["first_name"] = fields["first_name"]
    if fields.get("birth_date"):
        values["birth_date"] = fields["birth_date"]
    return values


def ground(fields: dict, document: DocumentText) -> list[Evidence]:
    """Say where the document states each deciding value, or that it does not."""
    return [
        document.find_date(key, value) if key == "birth_date" else document.find_name(key, value)
        for key, value in deciding_values(fields).items()
    ]


def not_found(evidence: Evidence) -> str:
    return f"{LABELS[evidence.key]} {evidence.value} does not appear in the document"


def named_people(document: DocumentText, people: People) -> list[Person]:
    """The people of the table whose last name, and first name if they have one, the text states."""
    return [
        person
        for person in people.by_last_name_keys(document.name_keys())
        if document.names(person.last_name)
        and (not name_key(person.first_name) or document.names(person.first_name))
    ]


def match_person(fields: dict, people: People, text: str) -> Match:
    """Find the one person these fields designate, by database rules only; never guess.

    Every value the match is decided on (last name, first name, birth date) must be written in
    the document's own text (grounding.py): a value the LLM invented, misread or was told by the
    document to answer sends the item to a human, with the candidates the grounded values give.
    A document that names another person of the table as well (an instruction hidden in it, a
    relative) or several birth dates for people of the same name goes to a human too: the text
    itself does not say which one it is about.
    """
    document = DocumentText(text)
    evidence = ground(fields, document)
    shown = [item.as_dict() for item in evidence]
    grounded = {item.key: item.value for item in evidence if item.found}
    missing = [not_found(item) for item in evidence if not item.found]
    if missing:
        if "last_name" in grounded:
            candidates = rules_candidates(grounded, people)
        else:
            candidates = named_people(document, people)
        return Match(None, candidates, "; ".join(missing), shown)
    last, first, birth = fields["last_name"], grounded.get("first_name"), grounded.get("birth_date")
    same_name = people.by_last_name(last)
    if not same_name:
        return Match(None, [], f"no person has the last name {last}", shown)
    candidates = same_name
    if first:
        candidates = [c for c in candidates if first_name_fits(first, c)]
        if not candidates:
            return Match(None, same_name, f"first name {first} matches nobody named {last}", shown)
    dated = [c for c in candidates if c.birth_date and document.states(c.birth_date)]
    if len(dated) > 1:
        return Match(
            None,
            candidates,
            f"the document gives the birth dates of {len(dated)} people named {last}",
            shown,
        )
    if birth and len(candidates) > 1:
        same_birth = [c for c in candidates if c.birth_date == birth]
        if same_birth:
            candidates = same_birth
    if len(candidates) != 1:
        return Match(None, candidates, f"{len(candidates)} people fit; a human must choose", shown)
    person = candidates[0]
    if birth and person.birth_date and person.birth_date != birth:
        return Match(None, candidates, f"birth date {birth} differs from the record's", shown)
    others = [p for p in named_people(document, people) if not same_person_name(p, person)]
    if others:
        names = ", ".join(f"{p.full_name} (#{p.id})" for p in others)
        return Match(
            None,
            [person, *others],
            f"the document names several people of the table: {person.full_name} and {names}",
            shown,
        )
    return Match(person, [], "", shown)


def same_person_name(one: Person, other: Person) -> bool:
    return name_key(one.last_name) == name_key(other.last_name) and name_key(
        one.first_name
    ) == name_key(other.first_name)


def first_name_fits(first: str, person: Person) -> bool:
    key = name_key(first)
    return key in name_key(person.first_name).split() or key == name_key(person.first_name)


def rules_candidates(grounded: dict, people: People) -> list[Person]:
    """The people the database rules give for the grounded values alone (choices for a human)."""
    candidates = people.by_last_name(grounded["last_name"])
    if grounded.get("first_name"):
        fitting = [c for c in candidates if first_name_fits(grounded["first_name"], c)]
        candidates = fitting or candidates
    if grounded.get("birth_date"):
        born = [c for c in candidates if c.birth_date == grounded["birth_date"]]
        candidates = born or candidates
    return candidates
