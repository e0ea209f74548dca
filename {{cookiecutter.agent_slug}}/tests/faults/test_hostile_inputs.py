"""Hostile inputs: whatever lands in the inbox ends in done/, failed/ (with a reason) or review/.

A property-based run drops at least MIN_CASES generated files, many per agent run: hostile names,
random bytes, invalid UTF-8, empty and over-limit files, wrong extensions, good, corrupt, encrypted
and bomb PDFs, and documents whose LLM answer is malformed or of the wrong types. A fixed corpus
adds what hypothesis cannot make: symbolic and hard links into the inbox, pipes, folders, names that
are not UTF-8, and a crash that left a pipe in processing/. Nothing may be written outside the
agent's directories, and no item may hold the loop longer than the per-item time limit.
"""

import json
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import corpus
import evidence
import pytest
import rig
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import stubs
from {{ cookiecutter.package_name }}.reading import PDF, TEXT, sniff

pytestmark = pytest.mark.faults

MIN_CASES = 1000
BATCHES = 60
BATCH_SIZE = (15, 25)
MAX_FILE_MB = 0.5
LIMIT_BYTES = int(MAX_FILE_MB * 1024 * 1024)
TIME_LIMIT_SECONDS = 2
# What one item may take beyond the time limit: the failed/ move, its sidecar and audit entries.
TIME_LIMIT_SLACK_SECONDS = 1.5
MAX_PASSES = 5  # MAX_ATTEMPTS passes retry an LLM answer that is not JSON, then it fails
AGENT_SETTINGS = {
    "MAX_FILE_MB": str(MAX_FILE_MB),
    "ITEM_TIME_LIMIT_SECONDS": str(TIME_LIMIT_SECONDS),
    "MAX_ATTEMPTS": "3",
    "DAILY_BUDGET_USD": "1000",  # hostile answers are long: the budget is not under test here
    # Parsing is under test at a 2 s limit, not OCR (a page takes seconds): a PDF without a text
    # layer fails saying so (neither OCR nor the model reads it). Hostile scans and photos have
    # their own row (test_scan_faults.py).
    "OCR_ENABLED": "false",
    "LLM_VISION": "off",
}
NAME_MAX_BYTES = 255
RESTART_TIMEOUT_SECONDS = 60
EXTENSIONS = (".txt", ".md", ".pdf", ".TXT", ".Pdf", ".exe", "", ".pdf.txt", ".txt.pdf", ".json")


@dataclass(frozen=True)
class Expect:
    """Where an input must end (None: any final folder) and what its reason must say."""

    folder: str | None = None
    words: str | None = None
    person: int | None = None


ANYWHERE = Expect()


@dataclass
class Case:
    name: str
    data: bytes
    kind: str
    expect: Expect


def fit_name(name: str) -> str:
    """Make a generated name one the kernel accepts and the inbox reads (not hidden)."""
    if name.startswith("."):
        name = "x" + name
    while len(name.encode()) > NAME_MAX_BYTES:
        name = name[0] + name[2:]  # keeps the first character and the extension
    return name


def expectation(name: str, data: bytes, content_type: str | None, content: Expect) -> Expect:
    """Return where the job's published rules put an input.

    The rules that look at size and bytes come first (the name never decides what a file is);
    `content` says where the content goes once read as its own type (text or pdf).
    """
    if len(data) > LIMIT_BYTES:
        return Expect("failed", "limit")
    if not data.strip():
        return Expect("failed", "empty")
    kind = sniff(data)
    if kind is None:
        return Expect("failed", "not an accepted kind")
    read_as = {TEXT: "text", PDF: "pdf"}.get(kind)
    return content if read_as == content_type else ANYWHERE


# Strategies: each content is (kind, bytes, its type, where it goes when read as that type) ----

NAME_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")
names = st.one_of(
    st.sampled_from(corpus.HOSTILE_NAMES),
    st.builds(
        lambda stem, extension: stem + extension,
        st.text(NAME_CHARACTERS, min_size=1, max_size=60),
        st.sampled_from(EXTENSIONS),
    ),
    st.builds(lambda stem: stem + ".txt", st.text(NAME_CHARACTERS, min_size=200, max_size=260)),
).map(fit_name)
references = st.integers(min_value=0, max_value=10**12)
people = st.sampled_from(sorted(corpus.PEOPLE))
fractions = st.floats(min_value=0, max_value=1)


def text_document(person: int, reference: int) -> bytes:
    return corpus.document(corpus.PEOPLE[person], f"Reference: {reference}").encode()


def insert(data: bytes, where: float, piece: bytes) -> bytes:
    at = int(where * len(data))
    return data[:at] + piece + data[at:]


def good_text(person: int, reference: int):
    return (
        "text about one person",
        text_document(person, reference),
        "text",
        Expect("done", person=person),
    )


def good_pdf(person: int, reference: int):
    text = corpus.document(corpus.PEOPLE[person], f"Reference: {reference}")
    return ("PDF about one person", corpus.text_pdf(text), "pdf", Expect("done", person=person))


def undecidable(lines: tuple[str, ...], reference: int):
    data = corpus.document(lines, f"Reference: {reference}").encode()
    return ("text no rule decides", data, "text", Expect("review"))


def llm_answer(entry: tuple[str, str, str], reference: int):
    label, _, folder = entry
    text = corpus.document(corpus.PEOPLE[1], corpus.answer_case(label), f"Reference: {reference}")
    words = "LLM answer" if folder == "failed" else None
    return (f"LLM answer: {label}", text.encode(), "text", Expect(folder, words))


def bad_pdf(entry: tuple[str, tuple[bytes, str]]):
    label, (data, words) = entry
    return (f"PDF: {label}", data, "pdf", Expect("failed", words))


def damaged_pdf(data: bytes, cut: float, flips: list[tuple[float, int]]):
    damaged = bytearray(data[: max(1, int(len(data) * cut))])
    for where, value in flips:
        damaged[int(where * (len(damaged) - 1))] = value
    return ("damaged PDF", bytes(damaged), None, ANYWHERE)


def over_limit(extra: int):
    lines = b"Patient: Jane Doe\n" * (LIMIT_BYTES // 18)
    return ("over the size limit", lines + b"x" * extra, None, ANYWHERE)


bad_pdfs = st.deferred(lambda: st.sampled_from(sorted(corpus.bad_pdfs().items())))
pdf_bytes = people.map(lambda person: corpus.text_pdf(corpus.document(corpus.PEOPLE[person])))
contents = st.one_of(
    st.builds(good_text, people, references),
    st.builds(good_pdf, people, references),
    st.builds(undecidable, st.sampled_from([corpus.AMBIGUOUS, corpus.UNKNOWN]), references),
    st.builds(llm_answer, st.sampled_from(corpus.HOSTILE_ANSWERS), references),
    st.builds(bad_pdf, bad_pdfs),
    st.builds(
        damaged_pdf,
        pdf_bytes,
        fractions,
        st.lists(st.tuples(fractions, st.integers(0, 255)), max_size=8),
    ),
    st.builds(lambda data: ("random bytes", data, None, ANYWHERE), st.binary(max_size=2048)),
    st.builds(
        lambda person, reference, where: (
            "invalid UTF-8",
            insert(text_document(person, reference), where, b"\xff\xfe\xc3"),
            None,
            ANYWHERE,
        ),
        people,
        references,
        fractions,
    ),
    st.builds(
        lambda person, reference: (
            "UTF-16 text",
            text_document(person, reference).decode().encode("utf-16"),
            None,
            ANYWHERE,
        ),
        people,
        references,
    ),
    st.builds(
        lambda reference: (
            "PDF header on text",
            b"%PDF-1.7\n" + text_document(1, reference),
            None,
            ANYWHERE,
        ),
        references,
    ),
    st.sampled_from([("zero bytes", b"", None, ANYWHERE), ("blank", b" \n\t\r\n", None, ANYWHERE)]),
    st.builds(over_limit, st.integers(min_value=LIMIT_BYTES % 18 + 1, max_value=4096)),
)


@st.composite
def batches(draw) -> list[Case]:
    """Draw a batch of cases with distinct names, each with where the rules must put it."""
    drawn = draw(
        st.lists(
            st.tuples(names, contents),
            min_size=BATCH_SIZE[0],
            max_size=BATCH_SIZE[1],
            unique_by=lambda pair: pair[0],
        )
    )
    return [
        Case(name, data, kind, expectation(name, data, content_type, expect))
        for name, (kind, data, content_type, expect) in drawn
    ]


# Running a batch -----------------------------------------------------------------------------


def drop_all(home, cases: list[Case]) -> None:
    """Drop the cases into incoming/, each a little older than the next: processed in order."""
    for number, case in enumerate(cases):
        home.drop(case.name, case.data, age=100 - number * 0.01)


def run_until_settled(home, durations: list[tuple[float, str]]) -> None:
    """Run the agent in-process until its inbox is empty, timing every item."""
    agent = home.agent()
    process_file = agent.process_file

    def timed(path, *args, **kwargs):
        started = time.monotonic()
        try:
            return process_file(path, *args, **kwargs)
        finally:
            durations.append((time.monotonic() - started, path.name))

    agent.process_file = timed
    try:
        for _ in range(MAX_PASSES):
            agent.run_once()
            if not evidence.entries(home.state / "incoming"):
                break
    finally:
        agent.close()


@dataclass
class Findings:
    cases: int = 0
    losses: int = 0
    duplicates: int = 0
    leaks: int = 0
    slowest: float = 0.0

    def add(self, other: "Findings") -> None:
        self.cases += other.cases
        self.losses += other.losses
        self.duplicates += other.duplicates
        self.leaks += other.leaks
        self.slowest = max(self.slowest, other.slowest)


def judge(
    home, cases: list[Case], fingerprints: list[str], outside_before: dict, durations, hidden=()
) -> tuple[Findings, list[str]]:
    """Check where every case ended and what the agent wrote; return figures and problems."""
    state = home.state
    problems = []
    findings = Findings(cases=len(cases))
    stuck = [
        p.name
        for folder in ("incoming", "processing")
        for p in evidence.entries(state / folder)
        if p.name not in hidden
    ]
    problems += [f"left in incoming/ or processing/: {name!r}" for name in stuck]
    missing, extra = evidence.losses_and_extras(fingerprints, state)
    findings.losses += missing
    findings.duplicates += extra
    if missing or extra:
        problems.append(f"{missing} input(s) not found in a final folder, {extra} found twice")
    placed = evidence.placements(state)
    for key, where in placed.items():
        for folder, name in where:
            problem = judge_entry(state, key, folder, name)
            if problem:
                findings.losses += 1
                problems.append(problem)
    repeats = Counter(fingerprints)
    for case, key in zip(cases, fingerprints, strict=True):
        # A content dropped twice cannot be told apart by what ended where: checked above only.
        if repeats[key] == 1 and key in placed:
            problem = judge_case(state, case, key, placed[key][0])
            if problem:
                findings.losses += 1
                problems.append(problem)
    excess, excess_problems = evidence.excess_records(state)
    findings.duplicates += excess
    problems += excess_problems
    changes = evidence.snapshot_changes(outside_before, evidence.snapshot(home.root, skip=("var",)))
    strays = evidence.stray_state_entries(state)
    findings.leaks += len(changes) + len(strays)
    problems += [f"outside the agent's directories: {change}" for change in changes]
    problems += [f"unexpected file in the state directory: {stray}" for stray in strays]
    findings.slowest = max((seconds for seconds, _ in durations), default=0.0)
    for seconds, name in durations:
        if seconds > TIME_LIMIT_SECONDS + TIME_LIMIT_SLACK_SECONDS:
            problems.append(f"{name!r} held the loop {seconds:.1f}s (limit {TIME_LIMIT_SECONDS}s)")
    return findings, problems


def judge_entry(state: Path, key: str, folder: str, name: str) -> str | None:
    """Return what is wrong with one entry of a final folder, whatever its input was."""
    why = evidence.sidecar(state / folder / name)
    if folder == "failed" and not (why and isinstance(why.get("error"), str) and why["error"]):
        return f"failed/{name!r} has no reason"
    if folder == "review" and not (why and why.get("reason")):
        return f"review/{name!r} has no reason"
    is_duplicate = bool(why and why.get("duplicate_of"))
    if (
        folder == "done"
        and not is_duplicate
        and not (state / "outbox" / f"{key[:16]}.json").exists()
    ):
        return f"done/{name!r} has no result in outbox/"
    return None


def judge_case(state: Path, case: Case, key: str, where: tuple[str, str]) -> str | None:
    """Return how one input's end differs from what the rules say, or None."""
    folder, name = where
    expect = case.expect
    label = f"{case.kind} named {case.name!r}"
    why = evidence.sidecar(state / folder / name) or {}
    if expect.folder and folder != expect.folder:
        return f"{label}: in {folder}/ ({why.get('error', '')}), expected {expect.folder}/"
    if folder == "failed" and expect.words and expect.words.lower() not in why["error"].lower():
        return f"{label}: failed for {why['error']!r}, expected a reason about {expect.words!r}"
    if folder == "done":
        result = json.loads((state / "outbox" / f"{key[:16]}.json").read_text(encoding="utf-8"))
        shown = os.fsencode(case.name).decode("utf-8", "backslashreplace")
        if result["source"] != shown or result["item_id"] != key[:16]:
            return f"{label}: its result names {result['source']!r} / {result['item_id']}"
        if expect.person is not None and result["person"]["id"] != expect.person:
            return f"{label}: matched person {result['person']['id']}, expected {expect.person}"
    return None


def run_batch(home, llm, cases: list[Case]) -> tuple[Findings, list[str]]:
    rig.configure(home, llm, **AGENT_SETTINGS)
    outside = home.root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the agent\n")
    drop_all(home, cases)
    fingerprints = [evidence.sha256(case.data) for case in cases]
    before = evidence.snapshot(home.root, skip=("var",))
    durations: list[tuple[float, str]] = []
    run_until_settled(home, durations)
    return judge(home, cases, fingerprints, before, durations)


@pytest.fixture
def llm():
    with stubs.LLMStub(responder=rig.extracting) as stub:
        yield stub


# Hypothesis warns that a batch holding a PDF bomb has a long repr; it is only shown on failure.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_generated_hostile_inputs_each_end_once_with_a_reason(report, llm, new_home):
    report.test = "hostile inputs (generated)"
    report.tried = (
        f"hypothesis: {BATCHES} agent runs of {BATCH_SIZE[0]}-{BATCH_SIZE[1]} generated files "
        "(hostile names; random bytes, invalid UTF-8, empty, over-limit, wrong extension; good, "
        "damaged, encrypted and bomb PDFs; malformed and wrongly typed LLM JSON)"
    )
    total = Findings()
    kinds: set[str] = set()

    # A failing batch is reported whole, each problem naming its case: shrinking batches of PDF
    # bombs would take longer than the suite.
    @settings(
        max_examples=BATCHES,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(cases=batches())
    def one_run(cases):
        findings, problems = run_batch(new_home(), llm, cases)
        total.add(findings)
        kinds.update(case.kind for case in cases)
        assert problems == []

    try:
        one_run()
    finally:
        report.cases, report.losses = total.cases, total.losses
        report.duplicates, report.leaks = total.duplicates, total.leaks
        report.found = (
            f"{len(kinds)} kinds of content; slowest item {total.slowest:.2f}s "
            f"(limit {TIME_LIMIT_SECONDS}s)"
        )
    assert total.cases >= MIN_CASES


def fixed_corpus(home) -> tuple[list[Case], list[str], list[str]]:
    """Drop the fixed corpus; return its cases, their fingerprints, and the hidden names."""
    outside = home.root / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text(corpus.document(corpus.PEOPLE[1], "Outside: not for the agent"))
    incoming = home.state / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    hidden = []

    def add(name: str, data: bytes, content_type: str | None, expect: Expect, kind: str) -> None:
        if name.startswith("."):
            hidden.append(name)  # an upload in progress, by convention: left alone
        cases.append(Case(name, data, kind, expectation(name, data, content_type, expect)))

    for number, name in enumerate(corpus.HOSTILE_NAMES):
        data = text_document(1, number)
        add(name, data, "text", Expect("done", person=1), "hostile name")
    for label, (data, words) in corpus.bad_pdfs().items():
        add(f"{label}.pdf", data, "pdf", Expect("failed", words), f"PDF: {label}")
    for number, (label, _, folder) in enumerate(corpus.HOSTILE_ANSWERS):
        kind, data, content_type, expect = llm_answer((label, "", folder), number)
        add(f"answer-{number}.txt", data, content_type, expect, kind)
    jane = text_document(1, 9999)
    classics = {
        "zero.txt": b"",
        "blank.md": b" \n\t\n",
        "over-limit.txt": b"Patient: Jane Doe\n" * (LIMIT_BYTES // 18 + 1),
        "latin1.txt": "Patient: Zoë Lévêque\n".encode("latin-1"),
        "utf16.md": jane.decode().encode("utf-16"),
        "pdf-named.txt": corpus.text_pdf(jane.decode()),
        "text-named.pdf": jane,
        "program.exe": b"MZ\x90\x00\x03",
        "script.txt.sh": b"#!/bin/sh\nrm -rf ~\n",
    }
    for name, data in classics.items():
        add(name, data, None, ANYWHERE, "classic")
    for case in cases:
        home.drop(case.name, case.data)

    # What only a file system can make: links, pipes, folders, names that are not UTF-8.
    links = {
        "link.txt": secret,
        "relative-link.txt": Path("../../outside/secret.txt"),
        "dangling.txt": outside / "missing.txt",
        "folder-link.pdf": outside,
        "database-link.txt": home.state / "agent.db",
    }
    for name, target in links.items():
        (incoming / name).symlink_to(target)
        cases.append(Case(name, b"", "symbolic link", Expect("failed", "symbolic link")))
    os.link(secret, incoming / "hard.txt")
    cases.append(Case("hard.txt", b"", "hard link", Expect("failed", "hard-linked")))
    os.link(home.env_file, incoming / "env.txt")
    cases.append(Case("env.txt", b"", "hard link to .env", Expect("failed", "hard-linked")))
    os.mkfifo(incoming / "pipe.txt")
    cases.append(Case("pipe.txt", b"", "named pipe", Expect("failed", "not a regular file")))
    (incoming / "folder.pdf").mkdir()
    (incoming / "folder.pdf" / "inside.txt").write_bytes(jane)
    cases.append(Case("folder.pdf", b"", "folder", Expect("failed", "not a regular file")))
    raw_name = os.fsencode(incoming) + b"/caf\xe9-latin1-name.txt"
    with open(raw_name, "wb") as handle:
        handle.write(text_document(1, 8888))
    name = os.fsdecode(raw_name).rsplit("/", 1)[1]
    cases.append(Case(name, text_document(1, 8888), "name not UTF-8", Expect("done", person=1)))
    for entry in incoming.iterdir():
        os.utime(entry, (0, 0), follow_symlinks=False)
    fingerprints = [evidence.fingerprint(incoming / case.name) for case in cases]
    return cases, fingerprints, hidden


def test_fixed_hostile_corpus_links_pipes_and_bombs(report, llm, home):
    report.test = "hostile inputs (fixed corpus)"
    report.tried = (
        "hostile names, every bad PDF (encrypted, truncated, decompression/parse/nesting bombs, "
        "cyclic page tree), every malformed LLM answer, classic bad files, symbolic and hard "
        "links (one to .env), a pipe, a folder, a non-UTF-8 name; then a crash leaving a pipe "
        "and a link in processing/"
    )
    rig.configure(home, llm, **AGENT_SETTINGS)
    cases, fingerprints, hidden = fixed_corpus(home)
    visible = [(c, f) for c, f in zip(cases, fingerprints, strict=True) if c.name not in hidden]
    before = evidence.snapshot(home.root, skip=("var",))
    hidden_before = {name: evidence.fingerprint(home.state / "incoming" / name) for name in hidden}
    durations: list[tuple[float, str]] = []

    run_until_settled(home, durations)
    findings, problems = judge(
        home, [c for c, _ in visible], [f for _, f in visible], before, durations, hidden
    )
    for name, key in hidden_before.items():
        path = home.state / "incoming" / name
        if not path.exists() or evidence.fingerprint(path) != key:
            findings.losses += 1
            problems.append(f"hidden upload {name!r} was touched")
    sent = b"".join(request.body for request in llm.requests)
    for marker in (b"Outside: not for the agent", b"LLM_PROVIDER="):
        if marker in sent:
            findings.leaks += 1
            problems.append(f"the LLM received {marker!r}: a link was followed")

    # A crash left a pipe and a link in processing/: the next start must not hang on them.
    processing = home.state / "processing"
    os.mkfifo(processing / "crash-pipe.txt")
    (processing / "crash-link.txt").symlink_to(home.root / "outside" / "secret.txt")
    for entry in processing.iterdir():
        os.utime(entry, (0, 0), follow_symlinks=False)
    started = time.monotonic()
    try:
        restart = home.cli("once", timeout=RESTART_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        restart = None
        problems.append("the agent hung at start on a pipe left in processing/")
    else:
        if restart.returncode != 0:
            problems.append(f"restart failed: {restart.stderr[-500:]}")
        for name in ("crash-pipe.txt", "crash-link.txt"):
            if name not in [p.name for p in evidence.entries(home.state / "failed")]:
                findings.losses += 1
                problems.append(f"{name} did not end in failed/")

    report.cases = findings.cases + 2
    report.losses, report.duplicates, report.leaks = (
        findings.losses,
        findings.duplicates,
        findings.leaks,
    )
    report.found = (
        f"{len(hidden)} hidden uploads left alone; slowest item {findings.slowest:.2f}s "
        f"(limit {TIME_LIMIT_SECONDS}s); restart with a pipe in processing/ "
        f"{'hung' if restart is None else f'done in {time.monotonic() - started:.1f}s'}"
    )
    assert problems == []
