"""What a Telegram message may show of a person: the privacy setting, applied in one place.

full       "Marie MARTIN, born 1984-03-12", and the document's own lines as evidence
initials   "M. M., 1984" (the default): enough to tell candidates apart; evidence names the
           place in the document, not its words
record     "#17": the record id alone; the human looks the person up elsewhere
"""

NAME_KEYS = ("first_name", "last_name")


def initials(name) -> str:
    parts = [part for part in str(name or "").replace("-", " ").split() if part]
    return " ".join(f"{part[0].upper()}." for part in parts) or "?"


def year(birth_date) -> str:
    text = str(birth_date or "")
    return text[:4] if text[:4].isdigit() else "?"


def person_text(person: dict, privacy: str) -> str:
    """Say who a candidate (id, first_name, last_name, birth_date) is, as privacy allows."""
    record = f"#{person.get('id', '?')}"
    if privacy == "record":
        return record
    if privacy == "initials":
        names = " ".join(initials(person.get(key)) for key in NAME_KEYS)
        return f"{record} {names}, {year(person.get('birth_date'))}"
    full = " ".join(str(person.get(key) or "") for key in NAME_KEYS).strip() or "?"
    return f"{record} {full}, born {person.get('birth_date') or '?'}"


def field_text(key: str, value, privacy: str) -> str | None:
    """Return a document field as the message may show it, or None to leave it out."""
    if value in (None, "", [], {}):
        return None
    if key in NAME_KEYS:
        if privacy == "record":
            return None
        return str(value) if privacy == "full" else initials(value)
    if key == "birth_date":
        if privacy == "record":
            return None
        return str(value) if privacy == "full" else year(value)
    if privacy != "full" and key in ("summary", "text", "address", "phone", "email"):
        return None  # free text carries names and details the other levels keep off Telegram
    return str(value)


def evidence_text(entry: dict, privacy: str) -> str:
    """Where the document states a checked value: its words only at the full level."""
    what = str(entry.get("key", "?")).replace("_", " ")
    if privacy == "full":
        what = f"{what} {entry.get('value')}"
    if not entry.get("found"):
        return f"{what}: not in the document"
    where = f"page {entry.get('page')}, line {entry.get('line')}"
    if privacy == "full":
        return f"{what}: {where}: «{entry.get('text') or ''}»"
    return f"{what}: {where}"
