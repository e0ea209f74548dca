#!/usr/bin/env python3
"""Read one page of a scanned PDF the way the agent does, and measure each tool's peak memory.

Usage: ocr-page.py PDF LANGUAGES

Rasterizes the first page with pdftoppm at 300 dpi (grey PNG) and reads it with tesseract in the
given languages (e.g. fra+ara+eng), one thread (OMP_THREAD_LIMIT=1), as subprocesses. Run inside
the agent's sandbox (systemd-run with its unit's settings), it proves both tools work there.
Prints one JSON object: each tool's exit status, peak RSS (KiB, from wait4's rusage) and
seconds, and the text tesseract read. Standard library only: it runs with the server's python3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DPI = "300"
TIMEOUT_SECONDS = 120


def run_measured(argv: list[str], env: dict[str, str]) -> dict:
    """Run argv; return its exit status, peak RSS in KiB, seconds and standard output."""
    started = time.monotonic()
    # S603: fixed tools from /usr/bin, an argument list, no shell.
    with subprocess.Popen(  # noqa: S603
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    ) as process:
        output = process.stdout.read() if process.stdout else b""
        # wait4 reports this child's own resource usage, maximum RSS included.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "status": process.returncode,
        "peak_rss_kib": usage.ru_maxrss,
        "seconds": round(time.monotonic() - started, 2),
        "output": output.decode("utf-8", "replace"),
    }


def main(argv: list[str]) -> int:
    """Rasterize and OCR the first page of argv[0] in languages argv[1]; print the figures."""
    if len(argv) != 2:
        print("usage: ocr-page.py PDF LANGUAGES", file=sys.stderr)
        return 2
    pdf, languages = argv
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    with tempfile.TemporaryDirectory(prefix="ocr-page-") as scratch:
        prefix = str(Path(scratch) / "page")
        rasterize = run_measured(
            ["/usr/bin/pdftoppm", "-r", DPI, "-gray", "-png", "-f", "1", "-l", "1", pdf, prefix],
            env,
        )
        pages = sorted(Path(scratch).glob("page*.png"))
        if rasterize["status"] != 0 or not pages:
            print(json.dumps({"pdftoppm": rasterize, "tesseract": None}))
            return 1
        read = run_measured(
            ["/usr/bin/tesseract", str(pages[0]), "-", "-l", languages, "--dpi", DPI], env
        )
    rasterize.pop("output")
    print(json.dumps({"pdftoppm": rasterize, "tesseract": read}))
    return 0 if read["status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
