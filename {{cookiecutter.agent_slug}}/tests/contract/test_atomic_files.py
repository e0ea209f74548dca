"""Crash-safe file operations: atomic replacement, once-only creates, moves that never overwrite."""

import ctypes
import errno
import os
import re
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.contract import files


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


# atomic_write_bytes ------------------------------------------------------------------------------


def test_atomic_write_creates_the_file_with_a_private_mode(tmp_path):
    target = tmp_path / "result.json"

    files.atomic_write_bytes(target, b"first")

    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) & 0o007 == 0
    assert leftovers(tmp_path) == []


def test_atomic_write_replaces_the_content_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "heartbeat.json"
    files.atomic_write_bytes(target, b"old content that is longer")

    files.atomic_write_bytes(target, b"new")

    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["heartbeat.json"]


def test_a_failed_atomic_write_keeps_the_old_content_and_no_temp_file(tmp_path):
    target = tmp_path / "state.json"
    files.atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        files.atomic_write_bytes(target, "not bytes")  # fails after the temp file was created

    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_atomic_write_json_writes_readable_sorted_json(tmp_path):
    target = tmp_path / "doc.json"

    files.atomic_write_json(target, {"b": 1, "a": "Zoë"})

    assert target.read_text(encoding="utf-8") == '{\n  "a": "Zoë",\n  "b": 1\n}\n'


# free_path ---------------------------------------------------------------------------------------


def test_free_path_uses_the_name_when_it_is_free(tmp_path):
    assert files.free_path(tmp_path, "doc.pdf") == tmp_path / "doc.pdf"


def test_free_path_adds_numbered_suffixes(tmp_path):
    (tmp_path / "doc.pdf").write_bytes(b"1")
    assert files.free_path(tmp_path, "doc.pdf") == tmp_path / "doc-2.pdf"

    (tmp_path / "doc-2.pdf").write_bytes(b"2")
    assert files.free_path(tmp_path, "doc.pdf") == tmp_path / "doc-3.pdf"


def test_free_path_handles_names_without_an_extension(tmp_path):
    (tmp_path / "README").write_bytes(b"")

    assert files.free_path(tmp_path, "README") == tmp_path / "README-2"


def test_free_path_never_returns_a_dangling_symlink_or_a_directory(tmp_path):
    (tmp_path / "doc.pdf").symlink_to(tmp_path / "nowhere")
    (tmp_path / "doc-2.pdf").mkdir()

    path = files.free_path(tmp_path, "doc.pdf")

    assert path == tmp_path / "doc-3.pdf"
    assert not path.exists()
    assert not path.is_symlink()


def test_moving_onto_a_taken_name_keeps_both_files(tmp_path):
    incoming, done = tmp_path / "incoming", tmp_path / "done"
    incoming.mkdir()
    done.mkdir()
    (done / "doc.pdf").write_bytes(b"first")
    (incoming / "doc.pdf").write_bytes(b"second")

    target = files.move_without_overwrite(incoming / "doc.pdf", done)

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

    path = files.free_path(directory, "doc.pdf")

    assert not path.exists()
    assert not path.is_symlink()
    assert path.parent == directory
    assert re.fullmatch(r"doc(-\d+)?\.pdf", path.name)


# moves that never replace a name -----------------------------------------------------------------


def renameat2_answering(code):
    """A stand-in for glibc's renameat2 that fails as a filesystem without NOREPLACE would."""

    def renameat2(*_args):
        ctypes.set_errno(code)
        return -1

    return renameat2


# None: the C library has no renameat2; EINVAL / ENOSYS: the filesystem or kernel lacks the flag.
FALLBACKS = [None, renameat2_answering(errno.EINVAL), renameat2_answering(errno.ENOSYS)]
FALLBACK_IDS = ["no-symbol", "EINVAL", "ENOSYS"]


@pytest.fixture(params=["renameat2", *FALLBACK_IDS])
def move_mode(request, monkeypatch):
    """Each move test runs with renameat2 and with each way of falling back to link + unlink."""
    if request.param != "renameat2":
        monkeypatch.setattr(files, "_renameat2", FALLBACKS[FALLBACK_IDS.index(request.param)])
    elif files.renameat2() is None:
        pytest.skip("this C library has no renameat2")
    return request.param


@pytest.fixture
def folders(tmp_path):
    incoming, done = tmp_path / "incoming", tmp_path / "done"
    incoming.mkdir()
    done.mkdir()
    return incoming, done


@pytest.fixture
def name_taken_before_the_move(monkeypatch):
    """free_path answers a free name, then another writer takes it before the move can.

    The race is arranged by state: the rival file exists when the move runs, not by timing.
    """
    taken = []
    real_free_path = files.free_path

    def racing_free_path(directory, name):
        candidate = real_free_path(directory, name)
        if not taken:
            candidate.write_bytes(b"written by another process meanwhile")
            taken.append(candidate)
        return candidate

    monkeypatch.setattr(files, "free_path", racing_free_path)
    return taken


def test_a_name_taken_just_before_the_move_is_left_alone(
    folders, move_mode, name_taken_before_the_move
):
    incoming, done = folders
    (incoming / "doc.pdf").write_bytes(b"mine")

    target = files.move_without_overwrite(incoming / "doc.pdf", done)

    assert name_taken_before_the_move == [done / "doc.pdf"]
    assert (done / "doc.pdf").read_bytes() == b"written by another process meanwhile"
    assert target == done / "doc-2.pdf"
    assert target.read_bytes() == b"mine"
    assert target.stat().st_nlink == 1  # the link fallback removed the old name
    assert list(incoming.iterdir()) == []


def test_rename_no_replace_refuses_an_existing_name(folders, move_mode):
    incoming, done = folders
    (incoming / "doc.pdf").write_bytes(b"mine")
    (done / "doc.pdf").write_bytes(b"theirs")

    with pytest.raises(FileExistsError):
        files.rename_no_replace(incoming / "doc.pdf", done / "doc.pdf")

    assert (done / "doc.pdf").read_bytes() == b"theirs"
    assert (incoming / "doc.pdf").read_bytes() == b"mine"


def test_symlinks_and_fifos_move_as_themselves(folders, move_mode):
    incoming, done = folders
    secret = incoming.parent / "secret.txt"
    secret.write_text("secret")
    (incoming / "link.txt").symlink_to(secret)
    os.mkfifo(incoming / "pipe.txt")

    link = files.move_without_overwrite(incoming / "link.txt", done)
    pipe = files.move_without_overwrite(incoming / "pipe.txt", done)

    assert link.is_symlink() and os.readlink(link) == str(secret)
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    assert secret.read_text() == "secret" and secret.stat().st_nlink == 1
    assert list(incoming.iterdir()) == []


def test_a_directory_moves_whole_without_replacing_a_taken_name(
    folders, move_mode, name_taken_before_the_move
):
    incoming, done = folders
    (incoming / "folder").mkdir()
    (incoming / "folder" / "inner.txt").write_text("inner")

    target = files.move_without_overwrite(incoming / "folder", done)

    assert (done / "folder").read_bytes() == b"written by another process meanwhile"
    assert target == done / "folder-2"
    assert (target / "inner.txt").read_text() == "inner"
    assert list(incoming.iterdir()) == []


def test_a_directory_is_not_renamed_onto_a_reservation_someone_filled(folders, monkeypatch):
    """Link fallback for a directory: mkdir reserves the name; a filled reservation is refused."""
    incoming, done = folders
    (incoming / "folder").mkdir()
    monkeypatch.setattr(files, "_renameat2", None)
    real_rename = os.rename

    def rename_after_a_rival_filled_the_reservation(source, target):
        (done / "folder" / "theirs.txt").write_text("theirs")
        real_rename(source, target)

    monkeypatch.setattr(files.os, "rename", rename_after_a_rival_filled_the_reservation)

    with pytest.raises(FileExistsError):
        files.rename_no_replace(incoming / "folder", done / "folder")

    assert (done / "folder" / "theirs.txt").read_text() == "theirs"
    assert (incoming / "folder").is_dir()


# atomic_create_bytes -----------------------------------------------------------------------------


def test_atomic_create_writes_a_new_file_once(tmp_path, move_mode):
    target = tmp_path / "result.json"

    files.atomic_create_json(target, {"a": 1})

    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert stat.S_IMODE(target.stat().st_mode) & 0o007 == 0
    assert target.stat().st_nlink == 1
    assert leftovers(tmp_path) == []


def test_atomic_create_never_replaces_an_existing_file(tmp_path, move_mode):
    target = tmp_path / "result.json"
    target.write_bytes(b"first result")

    with pytest.raises(FileExistsError):
        files.atomic_create_bytes(target, b"second result")

    assert target.read_bytes() == b"first result"
    assert leftovers(tmp_path) == []


def test_atomic_create_refuses_a_dangling_symlink(tmp_path, move_mode):
    target = tmp_path / "result.json"
    target.symlink_to(tmp_path / "elsewhere.json")

    with pytest.raises(FileExistsError):
        files.atomic_create_bytes(target, b"result")

    assert not (tmp_path / "elsewhere.json").exists()
    assert leftovers(tmp_path) == []
