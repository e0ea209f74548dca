#!/usr/bin/env python3
"""Build an agent's wheel and its dependencies' wheels on the controller, for one server platform.

The server never reaches PyPI or git: it installs from the wheels this script leaves in a cache
directory. The cache entry is keyed by a hash of the project's files and of the target platform, so
an unchanged project is not rebuilt (a second deploy reports nothing changed).

Prints one JSON object on stdout: changed, built, key, package, version, release, wheel_dir, wheels.

With --check (Ansible's check mode) it builds nothing and writes nothing: it computes the cache key
a build would use and looks it up. A cached project prints what a build would print (changed false,
built true). Otherwise a build would run (changed true, built false), and the release it would make
cannot be known without building: package, version, release and wheel_dir are null.

On a user error prints one line on stderr and exits 1 (2 for a bad command line).
"""

from __future__ import annotations

import argparse
import email.parser
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NoReturn

# Bump when the layout of a cache entry changes, so old entries are not reused.
CACHE_FORMAT = "1"
MANIFEST_NAME = "manifest.json"
# Things in a project directory that never go into a wheel: version control, virtualenvs, caches,
# build leftovers, the laptop's state directory and its secrets.
IGNORED_DIRECTORIES = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        ".hypothesis",
        "build",
        "dist",
        "var",
        "node_modules",
    }
)
IGNORED_FILE_SUFFIXES = (".pyc", ".pyo")
IGNORED_FILE_NAMES = frozenset({".env"})
PIP_TIMEOUT_SECONDS = 900
PIP_OUTPUT_TAIL_LINES = 15
RELEASE_HASH_LENGTH = 8
# The server's platform as tasks/host.yml reads it: manylinux_<glibc major>_<glibc minor>_<arch>.
MANYLINUX = re.compile(r"^manylinux_(?P<major>[0-9]+)_(?P<minor>[0-9]+)_(?P<arch>[a-z0-9_]+)$")
# The oldest glibc a manylinux tag names (manylinux1, PEP 513), and the legacy names of 2_17 and
# 2_12 (PEP 599, PEP 571), which wheels still carry, alone or beside the PEP 600 name.
OLDEST_GLIBC_MINOR = 5
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


class BuildError(Exception):
    """A problem the user can fix; its message is the one line they see."""


def is_ignored(path: Path) -> bool:
    """Tell whether a project path stays out of the build and of the fingerprint."""
    if any(part in IGNORED_DIRECTORIES or part.endswith(".egg-info") for part in path.parts[:-1]):
        return True
    return path.name in IGNORED_FILE_NAMES or path.name.endswith(IGNORED_FILE_SUFFIXES)


def project_files(project: Path) -> list[Path]:
    """List the project's files that can go into its wheel, relative to the project, sorted."""
    files = []
    for root, dirnames, filenames in os.walk(project):
        dirnames[:] = [
            name
            for name in dirnames
            if name not in IGNORED_DIRECTORIES and not name.endswith(".egg-info")
        ]
        for filename in filenames:
            relative = (Path(root) / filename).relative_to(project)
            if not is_ignored(relative):
                files.append(relative)
    return sorted(files)


def fingerprint(project: Path, files: list[Path], target: dict[str, str]) -> str:
    """Hash the project's files (names and contents) and the target platform."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": CACHE_FORMAT, **target}, sort_keys=True).encode())
    for relative in files:
        digest.update(str(relative).encode() + b"\0")
        digest.update(hashlib.sha256((project / relative).read_bytes()).digest())
    return digest.hexdigest()


def compatible_platforms(platform: str) -> list[str]:
    """Return every wheel platform tag a server of this platform installs, newest first.

    pip download --platform takes the tags literally: given manylinux_2_36_x86_64 alone it would
    refuse a binary wheel built for an older glibc (Pillow's manylinux_2_28, say), which the
    server's pip installs (PEP 600: glibc 2.36 runs wheels for 2.36 and every older 2.x).
    """
    match = MANYLINUX.fullmatch(platform)
    if match is None or int(match["major"]) != 2:
        return [platform]
    arch = match["arch"]
    tags = []
    for minor in range(int(match["minor"]), OLDEST_GLIBC_MINOR - 1, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        if minor in LEGACY_MANYLINUX:
            tags.append(f"{LEGACY_MANYLINUX[minor]}_{arch}")
    return tags


def run_pip(python: str, arguments: list[str], what: str) -> None:
    """Run pip with the controller's Python; turn a failure into one readable line."""
    command = [python, "-m", "pip", "--disable-pip-version-check", "--no-input", *arguments]
    try:
        # S603: the controller's Python running pip, an argument list, no shell.
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError as error:
        raise BuildError(
            f"cannot run {python!r} on the controller ({error.strerror}); set agent_build_python "
            "to a Python 3 that has pip"
        ) from error
    except subprocess.TimeoutExpired as error:
        raise BuildError(
            f"{what} took more than {PIP_TIMEOUT_SECONDS}s; is PyPI reachable?"
        ) from error
    if result.returncode != 0:
        output_lines = (result.stdout + result.stderr).strip().splitlines()
        tail = "\n".join(output_lines[-PIP_OUTPUT_TAIL_LINES:])
        raise BuildError(f"{what} failed (pip exited {result.returncode}):\n{tail}")


def read_wheel_metadata(wheel: Path) -> tuple[str, str, str, str]:
    """Return the wheel's name, version, RECORD text and entry points text."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(name.split("/")[0] for name in names if ".dist-info/" in name)
        metadata = email.parser.Parser().parsestr(
            archive.read(f"{dist_info}/METADATA").decode("utf-8")
        )
        record = archive.read(f"{dist_info}/RECORD").decode("utf-8")
        entry_points_name = f"{dist_info}/entry_points.txt"
        entry_points = (
            archive.read(entry_points_name).decode("utf-8") if entry_points_name in names else ""
        )
    return metadata["Name"], metadata["Version"], record, entry_points


def has_console_script(entry_points: str, script: str) -> bool:
    """Tell whether entry_points.txt declares the console script `script`."""
    section = ""
    for line in entry_points.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[console_scripts]" and line.split("=")[0].strip() == script:
            return True
    return False


def build(project: Path, slug: str, python: str, target: dict[str, str], destination: Path) -> dict:
    """Build the agent's wheel and download its dependencies' wheels into destination."""
    destination.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="pillars-build-") as scratch:
        # Build from a clean copy: an in-tree build would leave build/ and *.egg-info in the
        # project.
        source = Path(scratch) / "source"
        for relative in project_files(project):
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / relative, source / relative)
        agent_wheels = Path(scratch) / "agent"
        run_pip(
            python,
            ["wheel", "--no-deps", "--wheel-dir", str(agent_wheels), str(source)],
            f"building the wheel of {project}",
        )
        built = sorted(agent_wheels.glob("*.whl"))
        if len(built) != 1:
            raise BuildError(f"building {project} gave {len(built)} wheels, expected exactly one")
        agent_wheel = built[0]
        name, version, record, entry_points = read_wheel_metadata(agent_wheel)
        if not has_console_script(entry_points, slug):
            raise BuildError(
                f"{project} builds {name} {version}, which has no console script named {slug!r}; "
                f"set the agent's project_dir to the project baked with agent_slug={slug}"
            )
        # Dependencies as wheels for the server's Python and platform, not the controller's:
        # the controller may be a laptop with another OS, architecture or Python version.
        run_pip(
            python,
            [
                "download",
                "--only-binary=:all:",
                *(
                    argument
                    for tag in compatible_platforms(target["platform"])
                    for argument in ("--platform", tag)
                ),
                "--python-version",
                target["python_version"],
                "--implementation",
                "cp",
                "--abi",
                "cp" + target["python_version"].replace(".", ""),
                "--dest",
                str(destination),
                str(agent_wheel),
            ],
            f"downloading the dependencies of {name} {version} for "
            f"Python {target['python_version']} on {target['platform']}",
        )
        shutil.copy2(agent_wheel, destination / agent_wheel.name)
    wheels = sorted(path.name for path in destination.glob("*.whl"))
    # The release id changes when the agent's code or any dependency's version changes. RECORD lists
    # a hash of every file in the wheel, so it is stable even when the zip's timestamps are not.
    release_hash = hashlib.sha256(
        record.encode() + "\n".join(wheel for wheel in wheels if wheel != agent_wheel.name).encode()
    ).hexdigest()[:RELEASE_HASH_LENGTH]
    return {
        "package": name,
        "version": version,
        "release": f"{version}-{release_hash}",
        "wheels": wheels,
    }


def cache_entry(project: Path, slug: str, cache: Path, target: dict[str, str]) -> tuple[Path, str]:
    """Return the agent's cache directory and the key of the project's entry in it.

    The one computation of the key: a build stores its entry under it, and --check looks it up.
    """
    if not (project / "pyproject.toml").is_file():
        raise BuildError(
            f"{project} is not an agent project (no pyproject.toml); set the agent's project_dir "
            "to the directory cookiecutter baked"
        )
    key = fingerprint(project, project_files(project), target)[:32]
    return cache / slug, key


def read_entry(agent_cache: Path, key: str, changed: bool) -> dict:
    """Return what a build prints for the cache entry `key`."""
    entry = agent_cache / key
    manifest = json.loads((entry / MANIFEST_NAME).read_text())
    wheel_dir = str(entry / "wheels")
    return {"changed": changed, "built": True, "key": key, "wheel_dir": wheel_dir, **manifest}


def build_cached(
    project: Path, slug: str, python: str, cache: Path, target: dict[str, str]
) -> dict:
    """Return the cache entry for the project, building it first when it is missing."""
    agent_cache, key = cache_entry(project, slug, cache, target)
    agent_cache.mkdir(parents=True, exist_ok=True)
    entry = agent_cache / key
    # Several hosts may build the same agent at once: the lock makes the others wait and reuse.
    with open(agent_cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        changed = False
        if not (entry / MANIFEST_NAME).is_file():
            shutil.rmtree(entry, ignore_errors=True)
            partial = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=agent_cache))
            try:
                manifest = build(project, slug, python, target, partial / "wheels")
                (partial / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
                partial.rename(entry)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            changed = True
    return read_entry(agent_cache, key, changed)


def look_up(project: Path, slug: str, cache: Path, target: dict[str, str]) -> dict:
    """Tell what build_cached would return, without building or writing anything."""
    agent_cache, key = cache_entry(project, slug, cache, target)
    # An entry appears whole (a rename) with its manifest: no lock is needed to read one.
    if (agent_cache / key / MANIFEST_NAME).is_file():
        return read_entry(agent_cache, key, changed=False)
    return {
        "changed": True,
        "built": False,
        "key": key,
        "package": None,
        "version": None,
        "release": None,
        "wheel_dir": None,
        "wheels": [],
    }


class OneLineArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as the playbook shows them."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True, type=Path, help="the baked agent project")
    parser.add_argument("--slug", required=True, help="the agent's slug (its console script)")
    parser.add_argument("--cache", required=True, type=Path, help="the wheel cache directory")
    parser.add_argument("--python", required=True, help="the Python whose pip builds the wheels")
    parser.add_argument("--python-version", required=True, help="the server's Python, e.g. 3.11")
    parser.add_argument("--platform", required=True, help="e.g. manylinux_2_36_x86_64")
    parser.add_argument(
        "--check",
        action="store_true",
        help="build nothing: tell whether the project is built and which release it makes",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse, or with --check only look up) the wheels and print the result as JSON."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    target = {"python_version": arguments.python_version, "platform": arguments.platform}
    project = arguments.project.expanduser().resolve()
    cache = arguments.cache.expanduser()
    try:
        if arguments.check:
            result = look_up(project, arguments.slug, cache, target)
        else:
            result = build_cached(project, arguments.slug, arguments.python, cache, target)
    except (BuildError, OSError) as error:
        verb = "check" if arguments.check else "build"
        print(f"cannot {verb} agent {arguments.slug}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
