"""Local OCR with Debian's tesseract-ocr, one page at a time, as a bounded child process.

Languages come from OCR_LANGUAGES (tesseract's `fra+ara+eng` form); at start the agent checks that
tesseract is there and has each of them, and says which Debian package to install otherwise. The
check runs two tools, about 30 ms of every start: its verdict is kept in the state directory
(ocr-check.json) with the identity of the files it found (both tools and each language's
traineddata), and a start that finds the same files takes it without running them. An upgrade, a
removed language pack or another PATH or TESSDATA_PREFIX runs the whole check again.
"""

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..contract.files import atomic_write_json
from ..contract.layout import OCR_CHECK_FILE
from ..runtime.protocol import SetupError
from . import tools

TESSERACT = "tesseract"
PDFTOPPM = "pdftoppm"
LANGUAGES_PATTERN = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
# Page segmentation: 3, automatic (columns, blocks), tesseract's default, stated for clarity.
PAGE_SEGMENTATION = "3"
# Thresholding (tesseract 5): a scanner lights the page evenly, and Otsu's global threshold, the
# default, reads it best (local methods turn dust into marks); a photo is lit unevenly, and
# Sauvola's local method keeps its darker side from being read as black.
SCAN_THRESHOLDING = "0"
PHOTO_THRESHOLDING = "2"
CHECK_TIMEOUT_SECONDS = 20
# tesseract 5's header: List of available languages in "/usr/share/tesseract-ocr/5/tessdata/" (3):
TESSDATA_IN_HEADER = re.compile(r'"([^"]+)"')


def package(language: str) -> str:
    """Return the Debian package of a tesseract language (chi_sim -> tesseract-ocr-chi-sim)."""
    return "tesseract-ocr-" + language.lower().replace("_", "-")


def install_line(languages: str) -> str:
    names = [tools.PACKAGES[TESSERACT], *(package(code) for code in languages.split("+"))]
    return "apt install " + " ".join(dict.fromkeys(names))


def check(languages: str, state_dir: Path | None = None) -> None:
    """Raise SetupError when OCR cannot run: a tool or a language is missing, or the setting is bad.

    Each message is one line naming the Debian package to install or the setting to change. With
    state_dir, a verdict kept there for the same files is taken without running the tools.
    """
    if not LANGUAGES_PATTERN.match(languages):
        raise SetupError(
            f"OCR_LANGUAGES={languages} is not a list of tesseract languages such as fra+ara+eng; "
            "fix it in .env"
        )
    record = state_dir / OCR_CHECK_FILE if state_dir is not None else None
    if record is not None and _kept_verdict_holds(record, languages):
        return
    tessdata = _run_check(languages)
    verdict = _verdict(languages, tessdata) if tessdata else None
    if record is not None and verdict is not None:
        with contextlib.suppress(OSError):  # a kept verdict only saves time: checked next start
            atomic_write_json(record, verdict)


def _kept_verdict_holds(record: Path, languages: str) -> bool:
    """Whether record holds a passed check of languages over the very files found now."""
    try:
        kept = json.loads(record.read_bytes())
        return kept == _verdict(languages, str(kept["tessdata"]))
    except (OSError, ValueError, TypeError, KeyError):
        return False


def _verdict(languages: str, tessdata: str) -> dict | None:
    """Return a passed check's record: the files it found, their identity; None if one is gone."""
    environment = tools.child_environment()
    found = [shutil.which(tool, path=environment["PATH"]) for tool in (TESSERACT, PDFTOPPM)]
    if None in found:
        return None
    traineddata = [os.path.join(tessdata, f"{code}.traineddata") for code in languages.split("+")]
    files = {}
    for path in (*found, *traineddata):
        try:
            info = os.stat(path)  # the installed file behind a link
        except OSError:
            return None
        files[path] = [info.st_ino, info.st_size, info.st_mtime_ns]
    return {
        "languages": languages,
        "tessdata": tessdata,
        "environment": {name: environment.get(name) for name in ("PATH", "TESSDATA_PREFIX")},
        "files": files,
    }


def _run_check(languages: str) -> str | None:
    """Run both tools; raise SetupError when one is missing; return tesseract's tessdata folder."""
    off = "or set OCR_ENABLED=false"
    try:
        listed = subprocess.run(  # noqa: S603 (a fixed argv, no shell)
            [TESSERACT, "--list-langs"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=tools.child_environment(),
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise SetupError(
            f"OCR_ENABLED=true but tesseract is not installed: {install_line(languages)} "
            f"(Debian) {off}"
        ) from None
    except subprocess.TimeoutExpired:
        raise SetupError(
            f"tesseract --list-langs did not answer in {CHECK_TIMEOUT_SECONDS}s; "
            f"reinstall it ({install_line(languages)}) {off}"
        ) from None
    output = listed.stdout.decode("utf-8", "replace")
    if listed.returncode != 0:
        raise SetupError(
            f"tesseract --list-langs {tools.ended(listed.returncode)}; reinstall it "
            f"({install_line(languages)}) {off}"
        )
    # The first line is a header ("List of available languages in ... (3):").
    lines = output.splitlines()
    available = {line.strip() for line in lines[1:] if line.strip()}
    missing = [code for code in languages.split("+") if code not in available]
    if missing:
        raise SetupError(
            f"OCR_LANGUAGES={languages}: tesseract has no {', '.join(missing)}; install "
            f"{' '.join(package(code) for code in missing)} (Debian: apt install "
            f"{' '.join(package(code) for code in missing)}) or remove "
            f"{'it' if len(missing) == 1 else 'them'} from OCR_LANGUAGES"
        )
    try:
        subprocess.run(  # noqa: S603 (a fixed argv, no shell)
            [PDFTOPPM, "-v"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise SetupError(
            "OCR_ENABLED=true but pdftoppm, which turns scanned PDF pages into images, is not "
            f"installed: apt install poppler-utils (Debian) {off}"
        ) from None
    except subprocess.TimeoutExpired:
        raise SetupError(
            f"pdftoppm -v did not answer in {CHECK_TIMEOUT_SECONDS}s; reinstall poppler-utils {off}"
        ) from None
    header = TESSDATA_IN_HEADER.search(lines[0]) if lines else None
    return header.group(1) if header else None


def recognise(
    image: Path,
    *,
    languages: str,
    timeout: float,
    what: str,
    limit_chars: int,
    memory_bytes: int = tools.MEMORY_LIMIT_BYTES,
    dpi: int | None = None,
    photo: bool = False,
) -> str:
    """Return the text tesseract reads in one image file (lines separated by "\\n").

    photo: the image is a photo (uneven light) rather than a page rendered from a PDF scan.
    """
    output = image.with_suffix("")
    argv = [
        TESSERACT,
        image.name,
        output.name,
        "-l",
        languages,
        "--psm",
        PAGE_SEGMENTATION,
        "-c",
        f"thresholding_method={PHOTO_THRESHOLDING if photo else SCAN_THRESHOLDING}",
    ]
    if dpi:
        argv += ["--dpi", str(dpi)]
    tools.run(argv, cwd=image.parent, timeout=timeout, what=what, memory_bytes=memory_bytes)
    text = tools.read_output(output.with_suffix(".txt"), limit_chars)
    return tidy(text)


def tidy(text: str) -> str:
    """Drop the page break tesseract ends with, blank-line runs and control characters."""
    lines = []
    for line in text.replace("\f", "\n").splitlines():
        cleaned = "".join(ch for ch in line if ch.isprintable() or ch == "\t").rstrip()
        if cleaned or (lines and lines[-1]):
            lines.append(cleaned)
    return "\n".join(lines).strip()
