"""When tesseract or pdftoppm hang, crash, flood or print garbage, the item ends with a reason.

A stand-in `tesseract` (or `pdftoppm`) put first on PATH acts out each failure; the real tools
do everything else. Each run is bounded: the tool's timeout, its memory, CPU and file-size limits.
"""

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import scans
from {{ cookiecutter.package_name }}.reading import ReadOptions, check_ocr, read_document
from {{ cookiecutter.package_name }}.runtime.protocol import ItemFailed, SetupError, TryLater

LINES = scans.letter("Youssef Benali", "21/04/1969")
OPTIONS = ReadOptions(languages="fra+eng", timeout_seconds=2)
LANGUAGE_LIST = (
    'List of available languages in "/usr/share/tesseract-ocr/5/tessdata/" (2):\neng\nfra\n'
)


@pytest.fixture(scope="module")
def photo():
    return scans.encoded(scans.render_page(LINES, 150), "PNG")


@pytest.fixture(scope="module")
def scanned():
    return scans.scan(LINES, 150)


@pytest.fixture
def fake_tool(tmp_path, monkeypatch):
    """Return a maker of a stand-in tool, a shell script, found first on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")

    def make(name: str, script: str) -> Path:
        path = folder / name
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    return make


def test_a_hanging_tesseract_is_stopped_at_the_timeout(fake_tool, photo):
    fake_tool("tesseract", "sleep 600")

    with pytest.raises(
        ItemFailed, match=r"OCR of the image took longer than OCR_TIMEOUT_SECONDS=2s"
    ):
        read_document(Path("photo.png"), photo, OPTIONS)


def test_a_hanging_pdftoppm_is_stopped_at_the_timeout(fake_tool, scanned):
    fake_tool("pdftoppm", "exec sleep 600")

    with pytest.raises(ItemFailed, match=r"rendering page 1 of the PDF took longer than"):
        read_document(Path("scan.pdf"), scanned, OPTIONS)


def test_a_crashing_tesseract_is_named_with_its_signal(fake_tool, photo):
    fake_tool("tesseract", "echo 'Segmentation fault in the LSTM' >&2; kill -SEGV $$")

    with pytest.raises(ItemFailed) as failed:
        read_document(Path("photo.png"), photo, OPTIONS)

    assert "tesseract was killed by SIGSEGV" in str(failed.value)
    assert "Segmentation fault in the LSTM" in str(failed.value)


def test_an_error_exit_carries_the_tools_last_words(fake_tool, scanned):
    fake_tool("pdftoppm", "echo 'Syntax Error: broken xref' >&2; exit 99")

    with pytest.raises(ItemFailed) as failed:
        read_document(Path("scan.pdf"), scanned, OPTIONS)

    assert str(failed.value) == (
        "rendering page 1 of the PDF failed: pdftoppm exited with status 99: "
        "Syntax Error: broken xref"
    )


def test_a_tool_that_writes_without_end_is_stopped_by_the_file_size_limit(fake_tool, photo):
    fake_tool("tesseract", 'exec yes "garbage garbage garbage" > "$2.txt"')

    with pytest.raises(ItemFailed, match="SIGXFSZ"):
        read_document(Path("photo.png"), photo, OPTIONS)


def test_a_tool_that_floods_stderr_is_bounded_too(fake_tool, photo):
    fake_tool("tesseract", "exec yes 'warning: noise' >&2")

    with pytest.raises(ItemFailed, match="SIGXFSZ"):
        read_document(Path("photo.png"), photo, OPTIONS)


def test_a_tool_that_eats_memory_stops_at_the_memory_limit(fake_tool, photo):
    hog = f"exec {sys.executable} -c 'b = bytearray(8 * 1024 ** 3)'"
    fake_tool("tesseract", hog)

    with pytest.raises(ItemFailed, match="OCR of the image failed: tesseract exited with status 1"):
        read_document(
            Path("photo.png"), photo, ReadOptions(languages="fra+eng", timeout_seconds=30)
        )


def test_garbage_from_tesseract_is_text_like_any_other(fake_tool, photo):
    fake_tool("tesseract", r"""printf '\377\376 P@t1ent: ##\001\002 \n' > "$2.txt" """)

    doc = read_document(Path("photo.png"), photo, OPTIONS)

    assert doc.read_via == "ocr"
    assert doc.text == "\ufffd\ufffd P@t1ent: ##"  # invalid bytes replaced, controls dropped


def test_tesseract_gone_at_run_time_is_a_try_later(tmp_path, monkeypatch, photo):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(
        TryLater, match=r"tesseract is not installed \(Debian: apt install tesseract-ocr\)"
    ):
        read_document(Path("photo.png"), photo, OPTIONS)


def test_the_start_check_names_the_package_to_install(tmp_path, monkeypatch, fake_tool):
    check_ocr("fra+eng")  # the real tesseract has both

    with pytest.raises(
        SetupError, match=r"tesseract has no kor, deu; install tesseract-ocr-kor tesseract-ocr-deu"
    ):
        check_ocr("fra+kor+deu")
    with pytest.raises(SetupError, match="not a list of tesseract languages"):
        check_ocr("fra, ara")

    fake_tool("tesseract", f"printf '{LANGUAGE_LIST}'")
    with pytest.raises(
        SetupError,
        match=r"OCR_LANGUAGES=chi_sim: tesseract has no chi_sim; install tesseract-ocr-chi-sim",
    ):
        check_ocr("chi_sim")

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SetupError) as missing:
        check_ocr("fra+eng")
    assert str(missing.value) == (
        "OCR_ENABLED=true but tesseract is not installed: apt install tesseract-ocr "
        "tesseract-ocr-fra tesseract-ocr-eng (Debian) or set OCR_ENABLED=false"
    )


def test_a_passed_start_check_is_kept_while_its_files_stay_the_same(tmp_path, monkeypatch):
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True)
    installed = Path(re.search(r'"([^"]+)"', listed.stdout).group(1))
    tessdata = tmp_path / "tessdata"
    tessdata.mkdir()
    for code in ("fra", "eng"):
        (tessdata / f"{code}.traineddata").symlink_to(installed / f"{code}.traineddata")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata))
    state = tmp_path / "state"
    state.mkdir()

    check_ocr("fra+eng", state)  # the real tools run; the verdict names the files they found
    kept = json.loads((state / "ocr-check.json").read_text(encoding="utf-8"))
    assert Path(kept["tessdata"]) == tessdata
    assert str(tessdata / "eng.traineddata") in kept["files"]

    def no_tool(*args, **kwargs):
        raise AssertionError(f"a tool ran: {args[0]}")

    with monkeypatch.context() as patched:
        patched.setattr(subprocess, "run", no_tool)
        check_ocr("fra+eng", state)  # the same files: taken without running a tool
        with pytest.raises(AssertionError, match="a tool ran"):
            check_ocr("fra", state)  # other languages: checked again

    (tessdata / "eng.traineddata").unlink()  # the language pack removed since
    with pytest.raises(SetupError, match="tesseract has no eng; install tesseract-ocr-eng"):
        check_ocr("fra+eng", state)

    (tessdata / "eng.traineddata").symlink_to(installed / "eng.traineddata")
    check_ocr("fra+eng", state)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # the tools uninstalled since
    with pytest.raises(SetupError, match="tesseract is not installed"):
        check_ocr("fra+eng", state)


def test_the_agent_refuses_to_start_without_tesseract_in_one_line(home, tmp_path):
    empty = tmp_path / "nothing-installed"
    empty.mkdir()
    started = subprocess.run(
        home.command("once"),
        cwd=home.root,
        capture_output=True,
        text=True,
        timeout=60,
        env=home.process_env(PATH=str(empty)),
        check=False,
    )

    assert started.returncode != 0
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in started.stderr
    assert "tesseract is not installed" in lines[0] and "OCR_ENABLED=false" in lines[0]

    home.write_env(OCR_ENABLED="false")
    started = subprocess.run(
        home.command("once"),
        cwd=home.root,
        capture_output=True,
        text=True,
        timeout=60,
        env=home.process_env(PATH=str(empty)),
        check=False,
    )
    assert started.returncode == 0, started.stderr
