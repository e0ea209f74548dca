"""The hostile corpus, made by code at test time: no binary file is committed.

PDFs are written object by object (`pdf`), so a test can make any shape a real attacker would send:
a text layer, a truncated or corrupted file, an encrypted one (through pypdf), a decompression bomb
and a parse bomb (pages whose content streams keep the text extractor busy for minutes).
"""

import functools
import io
import json
import zlib

HEADER = b"%PDF-1.4\n"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
# A decompression bomb: this many zero bytes compress to about a thousandth of their size.
BOMB_BYTES = 200 * 1024 * 1024
# A parse bomb: each page repeats an empty text operator this often, and every page shares the
# same stream, so a 13 kB file keeps a text extractor busy for more than a minute.
PARSE_BOMB_PAGES = 50
PARSE_BOMB_OPERATORS = 300_000
NESTING_DEPTH = 100_000

PEOPLE = {
    # person id -> the lines of a document about them that the database rules match to them alone
    1: ("Patient: Jane Doe", "Date of birth: 03/02/1980"),
    2: ("Patient: Marie Martin", "Date of birth: 1975-06-12"),
    3: ("Patient: Marie Martin", "Date of birth: 30/11/1988"),
    4: ("Client: Youssef Benali",),
    5: ("Patient: Chidi Okafor", "DOB: 1992-09-05"),
}
AMBIGUOUS = ("Patient: Marie Martin",)  # two people fit: a human must choose
UNKNOWN = ("Patient: Nemo Nobody",)

# What an LLM may answer instead of the JSON object asked for: (label, answer, expected folder).
# "failed": not a JSON object, retried until MAX_ATTEMPTS; "review": an object with unusable fields;
# "done": usable fields that the database rules match to one person.
HOSTILE_ANSWERS = (
    ("prose", "Sure! The patient is Jane Doe, born in 1980.", "failed"),
    ("truncated", '{"last_name": "Doe", "first_name": "Ja', "failed"),
    ("array", '["Doe", "Jane"]', "failed"),
    ("string", '"Doe"', "failed"),
    ("null", "null", "failed"),
    ("empty", "", "failed"),
    ("deep array", "[" * NESTING_DEPTH + "]" * NESTING_DEPTH, "failed"),
    ("deep object", '{"a":' * NESTING_DEPTH + "1" + "}" * NESTING_DEPTH, "failed"),
    ("number name", '{"last_name": 42}', "review"),
    ("list name", '{"last_name": ["Doe"], "first_name": "Jane"}', "review"),
    ("operator name", '{"last_name": {"$ne": null}}', "review"),
    ("boolean names", '{"last_name": true, "first_name": false}', "review"),
    ("number date", '{"last_name": "Doe", "first_name": "Jane", "birth_date": 19800203}', "review"),
    ("impossible date", '{"last_name": "Doe", "birth_date": "1980-02-30"}', "review"),
    ("infinite name", '{"last_name": 1e999}', "review"),
    ("NaN name", '{"last_name": NaN}', "review"),
    ("blank name", '{"last_name": "   "}', "review"),
    ("punctuation name", '{"last_name": "!!!"}', "review"),
    ("lone surrogate", '{"last_name": "Doe\\ud800", "first_name": "Jane"}', "review"),
    ("NUL in name", '{"last_name": "Doe\\u0000", "first_name": "Jane"}', "done"),
    ("fenced", '```json\n{"last_name": "Doe", "first_name": "Jane"}\n```', "done"),
    ("duplicate keys", '{"last_name": "Martin", "last_name": "Doe", "first_name": "Jane"}', "done"),
    (
        "markup",
        '{"last_name": "Doe", "first_name": "Jane", "summary": "<script>x</script> & <b>"}',
        "done",
    ),
    (
        "huge summary",
        json.dumps({"last_name": "Doe", "first_name": "Jane", "summary": "x" * 200_000}),
        "done",
    ),
    (
        "a pick among people",
        '{"last_name": "Martin", "first_name": "Marie", "person_id": 3, "choose": 3}',
        "review",
    ),
)
ANSWER_LINE = "ANSWER-CASE: "


def document(lines: tuple[str, ...], *extra: str) -> str:
    return "\n".join([*lines, *extra]) + "\n"


def answer_case(label: str) -> str:
    """Return a document line that makes the LLM stand-in answer HOSTILE_ANSWERS[label]."""
    return f"{ANSWER_LINE}{label}"


def hostile_answer(document_text: str) -> str | None:
    """Return the scripted answer a document asks for, or None."""
    answers = {label: answer for label, answer, _ in HOSTILE_ANSWERS}
    for line in document_text.splitlines():
        if line.startswith(ANSWER_LINE):
            return answers.get(line.removeprefix(ANSWER_LINE).strip())
    return None


def pdf(objects: list[bytes]) -> bytes:
    """Write a PDF whose objects are numbered from 1 (object 1 is the catalog), with its xref."""
    out = io.BytesIO()
    out.write(HEADER)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def stream(content: bytes, extra: bytes = b"", compress: bool = True) -> bytes:
    if compress:
        content = zlib.compress(content, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(content), extra, content)


def pages_pdf(contents: list[bytes], shared: bool = False) -> bytes:
    """Return a PDF with one page per content stream (or all pages on contents[0] if shared)."""
    count = len(contents)
    first_page = 3
    streams_at = first_page + count
    kids = b" ".join(b"%d 0 R" % (first_page + n) for n in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
    ]
    resources = b"<< /Font << /F1 " + FONT + b" >> >>"
    for n in range(count):
        target = streams_at if shared else streams_at + n
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources %s"
            b" /Contents %d 0 R >>" % (resources, target)
        )
    for content in contents[:1] if shared else contents:
        objects.append(stream(content))
    return pdf(objects)


def text_pdf(text: str) -> bytes:
    """Return a one-page PDF whose text layer holds text, one line per line."""
    escaped = [
        line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")
        for line in text.splitlines()
    ]
    operators = b"BT /F1 11 Tf 14 TL 72 720 Td " + b" ".join(b"(%s) '" % line for line in escaped)
    return pages_pdf([operators + b" ET"])


@functools.cache
def encrypted_pdf() -> bytes:
    """Return a PDF with a text layer, encrypted with a user password (pypdf writes it)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(document(PEOPLE[1])))))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@functools.cache
def decompression_bomb() -> bytes:
    """Return a small PDF whose content stream inflates to BOMB_BYTES."""
    return pages_pdf([bytes(BOMB_BYTES)])


@functools.cache
def parse_bomb() -> bytes:
    """Return a small PDF whose text extraction takes minutes (an empty text array, repeated)."""
    content = b"BT /F1 9 Tf " + b"[] TJ " * PARSE_BOMB_OPERATORS + b"ET"
    return pages_pdf([content] * PARSE_BOMB_PAGES, shared=True)


@functools.cache
def nesting_bomb() -> bytes:
    """Return a PDF whose page dictionary holds arrays nested NESTING_DEPTH deep."""
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /X "
            + b"[" * NESTING_DEPTH
            + b"]" * NESTING_DEPTH
            + b">>",
        ]
    )


@functools.cache
def cyclic_pages() -> bytes:
    """Return a PDF whose page tree contains itself."""
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
            stream(b"BT /F1 11 Tf 72 720 Td (Patient: Jane Doe) Tj ET"),
        ]
    )


def bad_pdfs() -> dict[str, tuple[bytes, str]]:
    """Return label -> (content, words its failed/ reason must contain) for PDFs that must fail."""
    good = text_pdf(document(PEOPLE[1]))
    return {
        "encrypted": (encrypted_pdf(), "encrypted"),
        "truncated": (good[: len(good) // 2], "PDF"),
        "header only": (HEADER, "PDF"),
        "garbage after header": (HEADER + bytes(range(256)) * 4, "PDF"),
        "decompression bomb": (decompression_bomb(), "PDF"),
        "parse bomb": (parse_bomb(), "ITEM_TIME_LIMIT_SECONDS"),
        "nesting bomb": (nesting_bomb(), "PDF"),
        "cyclic page tree": (cyclic_pages(), "PDF"),
        "no text layer": (pages_pdf([b"0 0 m 100 100 l S"]), "no text layer"),
    }


# File names an uploader may produce; none can hold "/" or NUL (the kernel refuses them), and a
# leading dot marks an upload still in progress, which the agent leaves alone by convention.
HOSTILE_NAMES = (
    "-rf.txt",
    "--help.md",
    "-",
    "..txt",
    "...pdf",
    "..\\..\\etc\\passwd.txt",
    "up\\..\\..\\etc\\passwd.txt",
    "%2e%2e%2fetc%2fpasswd.txt",
    "line\nbreak.txt",
    "carriage\rreturn.md",
    "tab\there.txt",
    "$(reboot).txt",
    "`id`.md",
    ";rm -rf ~;.txt",
    "a|b&c>d<e.txt",
    "'quoted' \"name\".txt",
    "CON.txt",
    "nul.md",
    "~",
    "\u202egnp.txt",  # right-to-left override: shows as "txt.png"
    "zero\u200bwidth.txt",
    "\ufdfa.md",  # one character that decomposes into eighteen
    "名前.pdf",
    "Zoë Ünïcödé.txt",
    "🙂.md",
    "x" * 251 + ".txt",  # 255 bytes, the longest name ext4 allows
    "é" * 125 + ".txt",  # 254 bytes of two-byte characters
    "no-extension",
    "double.pdf.txt",
    "UPPER.PDF",
    "report.exe",
    "archive.tar.gz",
)
