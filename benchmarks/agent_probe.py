"""Time the agent's own audit append and cost record against plain durable appends of the same line,
and the default job's grounding check against reading the model's answer.

Runs with the baked agent's interpreter (its venv), not the benchmark's:
    VENV/bin/python agent_probe.py PACKAGE DIRECTORY COUNT
and prints one JSON object of microseconds per append, and per grounding check.
"""

import importlib
import json
import os
import sys
import time
from pathlib import Path

MICROSECONDS = 1_000_000
PROBE_MODEL = "claude-sonnet-4-5"


def plain_appends(path: Path, line: bytes, count: int) -> float:
    """Return seconds per append of line with O_APPEND + fsync: the least a durable log can do."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, line)
            os.fsync(fd)
        return (time.perf_counter() - started) / count
    finally:
        os.close(fd)


def last_line(path: Path) -> bytes:
    return path.read_bytes().splitlines(keepends=True)[-1]


def time_audit(package: str, directory: Path, count: int) -> tuple[float, float]:
    audit = importlib.import_module(f"{package}.observability.audit")
    log = audit.AuditLog(directory / "audit.jsonl")
    started = time.perf_counter()
    for number in range(count):
        # What the agent appends when it moves an item: the commonest entry.
        log.append("item.moved", f"{number:016x}", to="done", file=f"document-{number}.txt")
    per_append = (time.perf_counter() - started) / count
    plain = plain_appends(directory / "plain-audit.jsonl", last_line(log.path), count)
    return per_append, plain


def time_cost_record(package: str, directory: Path, count: int) -> tuple[float, float]:
    costs = importlib.import_module(f"{package}.observability.costs")
    base = importlib.import_module(f"{package}.integrations.llm.base")
    ledger = costs.CostLedger(directory / "costs", "bench-agent", costs.PriceTable.load())
    usage = base.Usage(input_tokens=1200, output_tokens=150, cache_read_tokens=800)
    started = time.perf_counter()
    for number in range(count):
        ledger.record(
            provider="anthropic",
            model=PROBE_MODEL,
            usage=usage,
            latency_ms=812.5,
            purpose="extract_fields",
            item_id=f"{number:016x}",
            status="ok",
            response_model=PROBE_MODEL,
        )
        # Written at once, synced with the item's next sync point: timed here with its sync.
        if hasattr(ledger, "sync"):
            ledger.sync()
    per_record = (time.perf_counter() - started) / count
    written = max((directory / "costs").glob("*.jsonl"))  # a run may cross midnight
    plain = plain_appends(directory / "plain-costs.jsonl", last_line(written), count)
    return per_record, plain


# A realistic two-page referral (text layer or OCR text: pages split by a form feed) and the model's
# answer for it: the grounding check finds its 3 deciding values and looks for other people named.
REFERRAL_PAGE_1 = """Cabinet du Dr A. Lefèvre - Médecine générale
12 rue des Lilas, 69003 Lyon - Tél. 04 78 12 34 56
Lyon, le 4 novembre 2024

Objet : demande d'avis en urologie
Patiente : Mme Marie MARTIN
Née le 12 juin 1975 - N° de dossier 2024-1187

Cher confrère,
Je vous adresse Mme Martin, 49 ans, pour des coliques néphrétiques récidivantes depuis six mois.
Antécédents : appendicectomie (1998), hypertension artérielle traitée par amlodipine 5 mg.
Allergies : pénicilline. Pas de tabac. Activité professionnelle : enseignante.
L'échographie du 28/10/2024 montre un calcul de 8 mm du rein gauche sans dilatation.
La créatinine est à 0,9 mg/dL, l'ECBU est stérile.
"""
REFERRAL_PAGE_2 = """Traitement actuel : amlodipine 5 mg/j, paracétamol 1 g si douleur.
Je vous remercie de bien vouloir la recevoir et de me tenir informé de votre avis.
Une lithotritie extracorporelle pourrait être discutée selon votre évaluation.
Bien confraternellement,
Dr A. Lefèvre
RPPS 10001234567 - Page 2/2
"""
REFERRAL = REFERRAL_PAGE_1 + "\f" + REFERRAL_PAGE_2
REFERRAL_ANSWER = json.dumps(
    {
        "last_name": "Martin",
        "first_name": "Marie",
        "birth_date": "1975-06-12",
        "document_type": "referral",
        "summary": "Referral to urology for recurrent renal colic; 8 mm left kidney stone.",
    }
)
SAMPLE_PEOPLE = (
    (1, "Doe", "Jane", "1980-02-03"),
    (2, "Martin", "Marie", "1975-06-12"),
    (3, "Martin", "Marie", "1988-11-30"),
    (4, "Benali", "Youssef", "1969-04-21"),
    (5, "Okafor", "Chidi", "1992-09-05"),
)


def time_grounding(package: str, directory: Path, count: int) -> tuple[float, float] | None:
    """Return seconds per match_person (grounding + rules, SQLite lookups included) and per
    json.loads of the model's answer; None for an agent whose job has no grounding."""
    try:
        job = importlib.import_module(f"{package}.job")
        matching = importlib.import_module(f"{package}.matching")
        people = importlib.import_module(f"{package}.people")
        db = importlib.import_module(f"{package}.security.db")
    except ImportError:
        return None
    database = db.Database(directory / "grounding.db")
    try:
        table = people.People(database)
        for row in SAMPLE_PEOPLE:
            table.upsert(people.Person(*row))
        fields = job.parse_fields(REFERRAL_ANSWER)
        match = matching.match_person(fields, table, REFERRAL)
        if match.person is None or match.person.id != 2:  # the check must decide, not refuse
            raise SystemExit(f"the grounding probe did not match: {match.reason}")
        started = time.perf_counter()
        for _ in range(count):
            matching.match_person(fields, table, REFERRAL)
        per_check = (time.perf_counter() - started) / count
    finally:
        database.close()
    started = time.perf_counter()
    for _ in range(count):
        json.loads(REFERRAL_ANSWER)
    return per_check, (time.perf_counter() - started) / count


def main() -> int:
    package, directory, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    audit, audit_plain = time_audit(package, directory, count)
    cost, cost_plain = time_cost_record(package, directory, count)
    figures = {
        "audit_us": audit * MICROSECONDS,
        "audit_plain_us": audit_plain * MICROSECONDS,
        "cost_us": cost * MICROSECONDS,
        "cost_plain_us": cost_plain * MICROSECONDS,
    }
    grounding = time_grounding(package, directory, count)
    if grounding is not None:
        figures["grounding_us"] = grounding[0] * MICROSECONDS
        figures["grounding_json_us"] = grounding[1] * MICROSECONDS
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
