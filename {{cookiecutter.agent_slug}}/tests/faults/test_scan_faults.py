"""Scans: broken and hostile images and PDFs end in a folder with a reason, in bounded resources.

Corrupt images of every kind, a 20-megapixel phone photo, image bombs (a PNG declaring
100000 x 100000 pixels), a 50-page scanned PDF (the limit) and a 51-page one: the agent, the real
command line with the fake LLM and the real tesseract and pdftoppm, runs once on all of them. Every
input must end exactly once in done/, review/ or failed/ with its reason, and the peak resident
memory of the agent and of every tool it ran stays under MAX_PEAK_RSS_MB.
"""

import json
import subprocess
import sys
import time

import evidence
import pytest

import scans

pytestmark = pytest.mark.faults

# The agent and its tools, each on its own: the agent's limit on a child (tools.MEMORY_LIMIT_BYTES)
# is 1.5 GiB of address space; a page takes tesseract a few hundred MB resident.
MAX_PEAK_RSS_MB = 1024
RUN_TIMEOUT_SECONDS = 1200
# Runs the agent once and prints the peak RSS of the largest process it and its children had.
MEASURED = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)
LETTER = scans.letter("Youssef Benali", "21/04/1969")


def blanks(count: int) -> list:
    """Return blank pages never saved before (Pillow keeps a save's options on the image)."""
    return [scans.render_page([], 100) for _ in range(count)]


def inputs() -> dict[str, tuple[bytes, str, str | None]]:
    """Return name -> (content, the folder it must end in ("" : done or review), failed words)."""
    page = scans.render_page(LETTER, 150)
    png = scans.encoded(page, "PNG")
    jpeg = scans.encoded(page, "JPEG", quality=85)
    blank = scans.render_page([], 100)
    return {
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "failed", "JPEG image is corrupt"),
        "truncated.png": (png[: len(png) // 3], "failed", "PNG image is corrupt"),
        "png-garbage.png": (png[:33] + bytes(range(256)) * 64, "failed", "PNG image is corrupt"),
        "jpeg-garbage.jpg": (jpeg[:2] + b"\xff" + bytes(range(256)) * 64, "failed", "JPEG"),
        "tiff-header.tif": (b"II*\x00\x08\x00\x00\x00\xff\xff", "failed", "TIFF image is corrupt"),
        "webp-header.webp": (b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "failed", "WebP"),
        "bomb-100000x100000.png": (scans.png_declaring(100_000, 100_000), "failed", "megapixels"),
        "bomb-50mp.png": (scans.png_declaring(10_000, 5_000), "failed", "limit 40 MP"),
        "photo-20mp.jpg": (scans.big_photo(20, LETTER), "", None),
        "scan-50-pages.pdf": (scans.scanned_pdf([page] + [blank] * 49, 100), "", None),
        "scan-51-pages.pdf": (scans.scanned_pdf([page] + [blank] * 50, 100), "failed", "51 pages"),
        "tiff-51-pages.tif": (
            scans.encoded(
                page.copy(),
                "TIFF",
                compression="tiff_deflate",
                save_all=True,
                append_images=blanks(50),
            ),
            "failed",
            "51 pages",
        ),
    }


def test_hostile_scans_end_in_a_folder_with_a_reason_in_bounded_time_and_memory(report, home):
    report.test = "scans"
    cases = inputs()
    report.tried = (
        f"{len(cases)} scans and photos in one agent run (real tesseract and pdftoppm): corrupt "
        "JPEG, PNG, TIFF and WebP, image bombs (100000 x 100000, 50 MP), a 20 MP photo, scanned "
        "PDFs of 50 and 51 pages, a 51-page TIFF"
    )
    home.write_env(MAX_FILE_MB="40")
    for name, (data, _folder, _words) in cases.items():
        home.drop(name, data)
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", MEASURED, *home.command("once")],
        cwd=home.root,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env=home.process_env(),
        check=False,
    )
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-2000:]
    peak_mb = int(run.stdout.split()[-1]) // 1024

    placed = evidence.placements(home.state)
    problems = []
    for name, (data, folder, words) in cases.items():
        where = placed.get(evidence.sha256(data), [])
        report.cases += 1
        if len(where) != 1:
            report.losses += 1
            problems.append(f"{name} ended in {where}")
            continue
        got = where[0][0]
        if (folder and got != folder) or got not in evidence.TERMINAL_FOLDERS:
            problems.append(f"{name} ended in {got}, not {folder or 'done or review'}")
            continue
        if got == "done":
            continue
        why = json.loads((home.state / got / f"{where[0][1]}{evidence.SIDECAR}").read_text())
        reason = why.get("error") or why.get("reason") or ""
        if not reason or (words and words not in reason):
            problems.append(f"{name} in {got} without the reason {words!r}: {reason!r}")
    if peak_mb > MAX_PEAK_RSS_MB:
        report.leaks += 1
        problems.append(f"peak RSS {peak_mb} MB, more than {MAX_PEAK_RSS_MB} MB")
    report.found = (
        f"{sum(folder == 'failed' for _, folder, _ in cases.values())} refused with their "
        f"reasons, the others read; one run {seconds:.0f} s, peak RSS {peak_mb} MB (the agent or "
        "a tool)"
    )
    assert problems == []
