"""Safe names for the items the agent takes in: harmless in a shell, a URL and a log line."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.reliability.files import MAX_NAME_BYTES, safe_name

SAFE_CHARACTERS = re.compile(r"^[A-Za-z0-9._-]+$")
HOSTILE_NAMES = [
    "../../etc/passwd",
    "/etc/shadow",
    "-rf",
    "--help.pdf",
    ".hidden",
    ".bashrc.txt",
    "line\nbreak.txt",
    "tab\tand\rreturn.md",
    "a" * 251 + ".pdf",
    "é" * 127 + ".pdf",
    "résumé.pdf",
    "",
    ".",
    "..",
    "...",
    "$(reboot).txt",
    "`id`.md",
    "a b; rm -rf ~.txt",
    "..\\..\\windows\\system32.dll",
    "\x00nul.txt",
    "名前.pdf",
    "🙂.txt",
]


def assert_safe(name: str) -> None:
    assert name
    assert "/" not in name
    assert not name.startswith((".", "-"))
    assert name.isascii()
    assert SAFE_CHARACTERS.match(name), name
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES


# safe_name -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_safe_name_defuses_hostile_names(name):
    assert_safe(safe_name(name))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("-rf", "rf"),
        (".hidden", "hidden"),
        ("line\nbreak.txt", "line_break.txt"),
        ("résumé.pdf", "resume.pdf"),
        ("Invoice 2024 (final).PDF", "Invoice_2024_final.PDF"),
        ("", "item"),
        ("..", "item"),
    ],
)
def test_safe_name_examples(name, expected):
    assert safe_name(name) == expected


def test_safe_name_shortens_long_names_but_keeps_the_extension():
    long_name = "a" * 251 + ".pdf"
    assert len(long_name.encode("utf-8")) == 255

    name = safe_name(long_name)

    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES


@pytest.mark.parametrize("name", ["名前.pdf", "Ελληνικά.txt", "🙂.md", "שלום.docx"])
def test_safe_name_keeps_the_extension_of_a_name_without_latin_letters(name):
    """A stem that has no ASCII form must not take the extension with it ("名前.pdf" -> "pdf")."""
    extension = name.rpartition(".")[2]

    result = safe_name(name)

    assert result.endswith(f".{extension}")
    assert len(result) > len(extension) + 1
    assert_safe(result)


@given(st.text())
def test_safe_name_is_safe_for_any_text(name):
    assert_safe(safe_name(name))


@given(st.text())
def test_safe_name_is_stable(name):
    once = safe_name(name)

    assert safe_name(once) == once


@given(
    stem=st.text(min_size=1).filter(lambda s: any(c.isascii() and c.isalnum() for c in s)),
    extension=st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True),
)
def test_safe_name_keeps_a_plain_extension(stem, extension):
    name = safe_name(f"{stem.replace('/', '_')}.{extension}")

    assert name.endswith(f".{extension}")
    assert_safe(name)
