"""OCR of one scanned page on one core: seconds and peak resident memory, with the agent's code.

A 300 dpi A4 page of text (36 lines, drawn by the baked project's scripts/make_samples.py) is
saved as a scanned PDF (no text layer) and read by the agent's reading package with its default
languages, in a child pinned to one core (taskset) as the agent unit's single process would run
it: pdftoppm renders the page, tesseract reads it (OMP_THREAD_LIMIT=1). The peak RSS is the
largest child's (RUSAGE_CHILDREN: tesseract or pdftoppm); the agent's own process is shown beside
it. Baseline in the same run: `tesseract --version`, the tool's start-up alone.
"""

import json
import logging
import shutil

from harness import MIB, BenchmarkError, Series, clean_environment, run_command

logger = logging.getLogger(__name__)

LANGUAGES = "fra+ara+eng"
# A page must fit OCR_TIMEOUT_SECONDS (60 s) many times over and a 30-page scan the item's
# ITEM_TIME_LIMIT_SECONDS (300 s); its peak must fit beside an idle agent (about 31 MiB) under the
# unit's MemoryMax (256M by default).
SECONDS_GOAL = 10.0
RSS_GOAL_MIB = 200
PAGE_LINES_REPEAT = 4
DRAW_PAGE = """
import sys
sys.path.insert(0, "scripts")
import make_samples as draw
page = draw.render_page(draw.REFERRAL * {repeat}, 300)
open(sys.argv[1], "wb").write(draw.scanned_pdf([page], 300))
"""
READ_PAGE = """
import json, resource, sys, time
from pathlib import Path
from {package}.reading import ReadOptions, read_document
data = Path(sys.argv[1]).read_bytes()
started = time.perf_counter()
doc = read_document(Path("page.pdf"), data, ReadOptions(languages=sys.argv[2]))
seconds = time.perf_counter() - started
print(json.dumps({{
    "seconds": seconds,
    "child_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "cpu": sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    ),
    "self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "via": doc.read_via,
    "chars": len(doc.text),
}}))
"""


def one_core(argv: list[str]) -> list[str]:
    """Return argv pinned to the first core, when taskset is there."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", "0", *argv] if taskset else argv


def measure(bench, row_type) -> list:
    """Return the rows: seconds per page and peak RSS per page (row_type is figures.Row)."""
    figure = "OCR of one scanned 300 dpi A4 page on one core"
    baseline_name = "`tesseract --version` (the tool's start-up)"
    if not (shutil.which("tesseract") and shutil.which("pdftoppm")):
        why = "tesseract or pdftoppm is not installed (apt install tesseract-ocr poppler-utils)"
        return [
            row_type.not_measured(f"{figure}: seconds", baseline_name, "", why),
            row_type.not_measured(f"{figure}: peak RSS", "", "", why),
        ]
    directory = bench.scratch("ocr")
    page = directory / "page.pdf"
    python = str(bench.agent.python)
    run_command(
        [python, "-c", DRAW_PAGE.format(repeat=PAGE_LINES_REPEAT), str(page)],
        env=clean_environment(),
        cwd=bench.agent.project,
        what="drawing the scanned page",
    )
    read = one_core(
        [python, "-c", READ_PAGE.format(package=bench.agent.package), str(page), LANGUAGES]
    )
    version = one_core(["tesseract", "--version"])
    seconds, child, own, start = Series("s"), Series("MiB"), Series("MiB"), Series("s")
    cpu = Series("s")
    chars = 0
    for rep in range(bench.reps):
        logger.info("OCR of one page, repetition %d of %d", rep + 1, bench.reps)
        _, out = run_command(read, env=clean_environment(), what="reading the scanned page")
        result = json.loads(out)
        if result["via"] != "ocr" or not result["chars"]:
            raise BenchmarkError(f"the scanned page was not read by OCR: {result}")
        seconds.add(result["seconds"])
        cpu.add(result["cpu"])
        child.add(result["child_kib"] * 1024 / MIB)
        own.add(result["self_kib"] * 1024 / MIB)
        chars = result["chars"]
        elapsed, _ = run_command(version, env=clean_environment(), what="tesseract --version")
        start.add(elapsed)
    bench.extras["ocr"] = {"chars": chars, "agent_rss": own, "cpu": cpu, "languages": LANGUAGES}
    ratio = seconds.median / start.median
    return [
        row_type(
            figure=f"{figure} ({LANGUAGES}, {chars} characters read): wall seconds",
            baseline_name=baseline_name,
            goal=f"≤ {SECONDS_GOAL:g} s a page",
            measured=seconds,
            baseline=start,
            ratio=ratio,
            ratio_text=(
                f"{ratio:.0f}× the start-up; CPU time {cpu.text()} (the agent and its tools; "
                "the wall time exceeds it when other work shares the core)"
            ),
            passed=seconds.median <= SECONDS_GOAL,
        ),
        row_type(
            figure=f"{figure}: peak RSS of the largest tool (tesseract)",
            baseline_name="the agent's own process reading it",
            goal=f"≤ {RSS_GOAL_MIB} MiB",
            measured=child,
            baseline=own,
            ratio=child.median / own.median,
            ratio_text=f"{child.median / own.median:.1f}× the agent's process",
            passed=child.median <= RSS_GOAL_MIB,
        ),
    ]
