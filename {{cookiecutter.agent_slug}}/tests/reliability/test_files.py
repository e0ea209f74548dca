"""Crash-safe file helpers: atomic replacement, free names that never overwrite, safe names."""

import re
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.reliability.files import (
    MAX_NAME_BYTES,
    atomic_write_bytes,
    atomic_write_json,
    free_path,
    move_without_overwrite,
    safe_name,
)

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


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


def assert_safe(name: str) -> None:
    assert name
    assert "/" not in name
    assert not name.startswith((".", "-"))
    assert name.isascii()
    assert SAFE_CHARACTERS.match(name), name
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES


# atomic_write_bytes --------------------------------------------------------------------------


def test_atomic_write_creates_the_file_with_a_private_mode(tmp_path):
    target = tmp_path / "result.json"

    atomic_write_bytes(target, b"first")

    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) & 0o007 == 0
    assert leftovers(tmp_path) == []


def test_atomic_write_replaces_the_content_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "heartbeat.json"
    atomic_write_bytes(target, b"old content that is longer")

    atomic_write_bytes(target, b"new")

    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["heartbeat.json"]


def test_a_failed_atomic_write_keeps_the_old_content_and_no_temp_file(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails after the temp file was created

    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_atomic_write_json_writes_readable_sorted_json(tmp_path):
    target = tmp_path / "doc.json"

    atomic_write_json(target, {"b": 1, "a": "Zoë"})

    assert target.read_text(encoding="utf-8") == '{\n  "a": "Zoë",\n  "b": 1\n}\n'


# free_path -----------------------------------------------------------------------------------


def test_free_path_uses_the_name_when_it_is_free(tmp_path):
    assert free_path(tmp_path, "doc.pdf") == tmp_path / "doc.pdf"


def test_free_path_adds_numbered_suffixes(tmp_path):
    (tmp_path / "doc.pdf").write_bytes(b"1")
    assert free_path(tmp_path, "doc.pdf") == tmp_path / "doc-2.pdf"

    (tmp_path / "doc-2.pdf").write_bytes(b"2")
    assert free_path(tmp_path, "doc.pdf") == tmp_path / "doc-3.pdf"


def test_free_path_handles_names_without_an_extension(tmp_path):
    (tmp_path / "README").write_bytes(b"")

    assert free_path(tmp_path, "README") == tmp_path / "README-2"


def test_free_path_never_returns_a_dangling_symlink_or_a_directory(tmp_path):
    (tmp_path / "doc.pdf").symlink_to(tmp_path / "nowhere")
    (tmp_path / "doc-2.pdf").mkdir()

    path = free_path(tmp_path, "doc.pdf")

    assert path == tmp_path / "doc-3.pdf"
    assert not path.exists()
    assert not path.is_symlink()


def test_moving_onto_a_taken_name_keeps_both_files(tmp_path):
    incoming, done = tmp_path / "incoming", tmp_path / "done"
    incoming.mkdir()
    done.mkdir()
    (done / "doc.pdf").write_bytes(b"first")
    (incoming / "doc.pdf").write_bytes(b"second")

    target = move_without_overwrite(incoming / "doc.pdf", done)

    assert target == done / "doc-2.pdf"
    assert (done / "doc.pdf").read_bytes() == b"first"
    assert target.read_bytes() == b"second"
    assert list(incoming.iterdir()) == []


@given(taken=st.sets(st.integers(min_value=1, max_value=12), max_size=12))
def test_free_path_never_returns_an_existing_path(tmp_path_factory, taken):
    directory = tmp_path_factory.mktemp("free")
    for number in taken:
        name = "doc.pdf" if number == 1 else f"doc-{number}.pdf"
        (directory / name).write_bytes(b"")

    path = free_path(directory, "doc.pdf")

    assert not path.exists()
    assert not path.is_symlink()
    assert path.parent == directory
    assert re.fullmatch(r"doc(-\d+)?\.pdf", path.name)


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
