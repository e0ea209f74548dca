"""Run tesseract and pdftoppm as bounded child processes.

Each run gets a list argv (no shell), no stdin, a private working directory, a wall-clock
timeout, a memory limit (RLIMIT_AS), a CPU-time limit, a file-size limit (RLIMIT_FSIZE: a tool
that writes without end is stopped) and one thread (OMP_THREAD_LIMIT=1: tesseract's OpenMP would
otherwise take every core). Its output goes to files in the working directory, read back up to a
bound, so a child that prints without end cannot fill the agent's memory.
"""

import os
import resource
import signal
import subprocess
from pathlib import Path

from ..runtime.protocol import ItemFailed, TryLater

# Memory a child may map: a 300 dpi A4 page takes tesseract about 100-200 MB resident (measured
# by `make bench`); its address space is larger (shared libraries, language models).
MEMORY_LIMIT_BYTES = 1536 * 1024 * 1024
MAX_OUTPUT_BYTES = 64 * 1024 * 1024  # RLIMIT_FSIZE: the largest file a child may write
STDERR_SHOWN_CHARS = 200
# The Debian packages that provide each tool.
PACKAGES = {"tesseract": "tesseract-ocr", "pdftoppm": "poppler-utils"}


def child_environment() -> dict[str, str]:
    """Return the child's environment: PATH, a UTF-8 locale, one thread; no secret of ours."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "OMP_THREAD_LIMIT": "1",
    }
    for name in ("TMPDIR", "TESSDATA_PREFIX"):
        if os.environ.get(name):
            environment[name] = os.environ[name]
    return environment


def limiter(memory_bytes: int, cpu_seconds: float):
    """Return the preexec_fn that sets the child's limits before it runs the tool."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        cpu = max(1, int(cpu_seconds) + 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return limit


def run(
    argv: list[str],
    *,
    cwd: Path,
    timeout: float,
    what: str,
    memory_bytes: int = MEMORY_LIMIT_BYTES,
) -> None:
    """Run a tool to completion in cwd, or raise ItemFailed/TryLater saying what went wrong.

    `what` names the work for the message ("OCR of page 3"). A timeout, a crash or an error exit
    is deterministic for the same input and limits: ItemFailed. A tool that is not installed
    (removed after the agent started) may come back: TryLater.
    """
    tool = Path(argv[0]).name
    stderr_path = cwd / f"{tool}.stderr"
    try:
        with open(stderr_path, "wb") as stderr:
            completed = subprocess.run(  # noqa: S603 (a fixed argv, no shell)
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=child_environment(),
                timeout=timeout,
                preexec_fn=limiter(memory_bytes, timeout),
                check=False,
            )
    except FileNotFoundError:
        raise TryLater(
            f"{what}: {tool} is not installed (Debian: apt install {PACKAGES.get(tool, tool)})"
        ) from None
    except subprocess.TimeoutExpired:
        raise ItemFailed(
            f"{what} took longer than OCR_TIMEOUT_SECONDS={timeout:g}s and was stopped"
        ) from None
    if completed.returncode != 0:
        raise ItemFailed(f"{what} failed: {tool} {ended(completed.returncode)}{said(stderr_path)}")


def ended(returncode: int) -> str:
    """Say how a child ended: its exit status, or the signal that killed it and what it means."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    meaning = {
        "SIGXCPU": " (CPU time limit)",
        "SIGXFSZ": " (it wrote more than the output limit)",
        "SIGSEGV": " (a crash; out of memory under the memory limit?)",
        "SIGABRT": " (it aborted; out of memory under the memory limit?)",
        "SIGKILL": " (killed; out of memory?)",
    }.get(name, "")
    return f"was killed by {name}{meaning}"


def said(stderr_path: Path) -> str:
    """Return the last line the tool wrote on stderr, shortened, for the reason."""
    try:
        with open(stderr_path, "rb") as file:
            file.seek(max(0, stderr_path.stat().st_size - 4096))
            tail = file.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return f": {lines[-1][:STDERR_SHOWN_CHARS]}" if lines else ""


def read_output(path: Path, limit_chars: int) -> str:
    """Return a tool's text output, at most limit_chars of it (invalid UTF-8 replaced)."""
    try:
        with open(path, "rb") as file:
            raw = file.read(limit_chars * 4)
    except FileNotFoundError:
        return ""
    return raw.decode("utf-8", "replace")[:limit_chars]
