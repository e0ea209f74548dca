"""Safe names for the items the agent takes in: harmless in a shell, a URL and a log line."""

import errno
import re
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.reliability.files import (
    MAX_NAME_BYTES,
    fsync_directories,
    safe_name,
    sync_together,
)

BARRIER_SECONDS = 30  # a bound on a wait, never a measured time
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


def test_syncs_issued_together_run_at_the_same_time_and_all_finish():
    both_running = threading.Barrier(2, timeout=BARRIER_SECONDS)
    finished = []

    def sync(name):
        both_running.wait()  # breaks (and raises) unless the other sync runs meanwhile
        finished.append(name)

    sync_together(lambda: sync("audit"), lambda: sync("archive"))

    assert sorted(finished) == ["archive", "audit"]


def test_a_failing_sync_is_raised_and_every_other_sync_still_runs():
    finished = []
    failed = threading.Event()

    def failing():
        try:
            raise OSError(errno.EIO, "I/O error")
        finally:
            failed.set()

    def slow():
        failed.wait(BARRIER_SECONDS)
        finished.append("slow")

    with pytest.raises(OSError, match="I/O error"):
        sync_together(failing, slow)
    assert finished == ["slow"]


def test_directories_synced_together_keep_a_rename_in_each(tmp_path):
    folders = [tmp_path / name for name in ("done", "processing", "incoming")]
    for folder in folders:
        folder.mkdir()
        (folder / "file").write_text("x", encoding="utf-8")
    fsync_directories(folders)  # a real fsync of each: a missing folder would raise
    with pytest.raises(FileNotFoundError):
        fsync_directories([*folders, tmp_path / "missing"])


def test_the_error_behind_a_failing_sync_is_kept_when_raised_while_another_is_handled():
    def failing():  # as the audit log's sync fails: the OSError behind says the disk is full
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("cannot write the audit log") from None

    with pytest.raises(RuntimeError) as raised:
        try:
            raise ValueError("the item failed")
        except ValueError:
            sync_together(lambda: None, failing)
    assert raised.value.__cause__.errno == errno.ENOSPC
