"""Bake an agent from the template with its defaults and install it into a virtualenv of its own,
as a user (and the deploy role) would: the agent's wheel plus its runtime dependencies from PyPI."""

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import BenchmarkError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ".env.example"
ENV_FILE_MODE = 0o600


@dataclass(frozen=True)
class BakedAgent:
    """A baked agent project and the virtualenv it is installed in."""

    project: Path
    venv: Path
    slug: str
    package: str

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def command(self) -> Path:
        return self.venv / "bin" / self.slug

    @property
    def people_csv(self) -> Path:
        return self.project / "samples" / "people.csv"

    def env_file(self, path: Path, **settings: str) -> Path:
        """Write the project's .env.example with settings changed (or added), mode 0600."""
        lines = (self.project / ENV_EXAMPLE).read_text(encoding="utf-8").splitlines()
        remaining = dict(settings)
        for index, line in enumerate(lines):
            key = line.partition("=")[0].strip()
            if not line.lstrip().startswith("#") and key in remaining:
                lines[index] = f"{key}={remaining.pop(key)}"
        lines += [f"{key}={value}" for key, value in remaining.items()]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, ENV_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return path


def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchmarkError(
            f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        )


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template at the repository root (defaults unless answers say otherwise)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    before = set(output_dir.iterdir())
    extra = [f"{key}={value}" for key, value in answers.items()]
    _run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--output-dir",
            str(output_dir),
            str(REPO_ROOT),
            *extra,
        ],
        "baking the template with cookiecutter",
    )
    (project,) = set(output_dir.iterdir()) - before
    return project


def install(project: Path, venv: Path, wheels: Path) -> BakedAgent:
    """Build the agent's wheel here and install it with its dependencies into a new venv."""
    logger.info("Building the wheel of %s", project.name)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(project),
        ],
        "building the agent's wheel (needs setuptools and wheel: make bench installs them)",
    )
    (wheel,) = wheels.glob(f"{project.name.replace('-', '_')}-*.whl")
    logger.info("Creating %s and installing the agent with its dependencies from PyPI", venv)
    _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
    _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        "installing the agent into its venv (needs PyPI)",
    )
    (package,) = [p.parent.name for p in (project / "src").glob("*/__init__.py")]
    return BakedAgent(project=project, venv=venv, slug=project.name, package=package)
