"""Bake the template the way a user does and check what comes out.

Every option combination is baked once per test session (per worker when run in parallel) into its
own temporary folder, then checked: fully rendered, trimmed by the post-generation hook, clean under
the baked project's own ruff settings, and passing its own test suite. Hostile answers either bake
cleanly or stop in the pre-generation hook with its one-line message.
"""

import ast
import configparser
import fnmatch
import importlib.util
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO_ROOT / "{{cookiecutter.agent_slug}}"
COOKIECUTTER_JSON = REPO_ROOT / "cookiecutter.json"
TEMPLATE_OPTIONS = json.loads(COOKIECUTTER_JSON.read_text(encoding="utf-8"))

UNRENDERED_MARKERS = ("{{ cookiecutter", "{{cookiecutter", "{%", "%}")
HOOK_MESSAGE_PREFIX = "pillars: "
BAKED_SUITE_TIMEOUT_SECONDS = 900
TOOL_TIMEOUT_SECONDS = 300
OUTPUT_TAIL_LINES = 60
# Set by systemd or by an outer pytest; the baked suite must run as on a plain laptop.
OUTER_ENVIRONMENT_PREFIXES = ("PYTEST_", "COV_CORE_")
OUTER_ENVIRONMENT_VARIABLES = (
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "CREDENTIALS_DIRECTORY",
    "STATE_DIRECTORY",
    "LOGS_DIRECTORY",
)

COMBINATIONS = [
    pytest.param(provider, telegram, id=f"{provider}-telegram-{telegram}")
    for provider in TEMPLATE_OPTIONS["llm_provider"]
    for telegram in TEMPLATE_OPTIONS["telegram_alerts"]
]


@dataclass(frozen=True)
class Bake:
    """A baked project, its answers, and its files as cookiecutter left them."""

    project: Path
    answers: dict[str, Any]
    files: frozenset[str]

    @property
    def label(self) -> str:
        return (
            f"{self.answers['agent_slug']} (llm_provider={self.answers['llm_provider']}, "
            f"telegram_alerts={self.answers['telegram_alerts']}) at {self.project}"
        )


def relative_files(root: Path) -> frozenset[str]:
    """Return the paths of all files under root, relative and with forward slashes."""
    return frozenset(
        path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()
    )


def resolved_answers(extra_context: dict[str, str]) -> dict[str, Any]:
    """Return every answer cookiecutter uses with extra_context, derived ones included."""
    context = generate_context(context_file=str(COOKIECUTTER_JSON), extra_context=extra_context)
    return dict(prompt_for_config(context, no_input=True))


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write a cookiecutter user config that keeps replay files and clones out of $HOME."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f'cookiecutters_dir: "{home / "cookiecutters"}"\nreplay_dir: "{home / "replay"}"\n',
        encoding="utf-8",
    )
    return config


def bake(output_dir: Path, config_file: Path, **extra_context: str) -> Bake:
    """Bake the template with extra_context into output_dir, as `cookiecutter --no-input` does."""
    project = Path(
        cookiecutter(
            str(REPO_ROOT),
            no_input=True,
            extra_context=extra_context,
            output_dir=str(output_dir),
            config_file=str(config_file),
        )
    )
    return Bake(project, resolved_answers(extra_context), relative_files(project))


@pytest.fixture(scope="session")
def baked_combination(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> Callable[[str, str], Bake]:
    """Return a function that bakes one option combination, once per session."""
    bakes: dict[tuple[str, str], Bake] = {}

    def get(llm_provider: str, telegram_alerts: str) -> Bake:
        key = (llm_provider, telegram_alerts)
        if key not in bakes:
            output_dir = tmp_path_factory.mktemp(f"bake-{llm_provider}-telegram-{telegram_alerts}")
            bakes[key] = bake(
                output_dir,
                cookiecutter_config,
                llm_provider=llm_provider,
                telegram_alerts=telegram_alerts,
            )
        return bakes[key]

    return get


def laptop_environment(project: Path) -> dict[str, str]:
    """Return the environment a user's shell would give the baked project, without installing it."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(OUTER_ENVIRONMENT_PREFIXES)
        and name not in OUTER_ENVIRONMENT_VARIABLES
    }
    environment["PYTHONPATH"] = str(project / "src")
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def run_in(project: Path, command: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    """Run command inside project and return its result, whatever the exit code."""
    return subprocess.run(
        command,
        cwd=project,
        env=laptop_environment(project),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tail(output: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    """Return the last lines of output."""
    return "\n".join(output.rstrip().splitlines()[-lines:])


def copied_without_render(relative_path: str) -> bool:
    """Tell whether cookiecutter copies relative_path verbatim (binary samples such as PDFs)."""
    return any(
        fnmatch.fnmatch(relative_path, pattern)
        for pattern in TEMPLATE_OPTIONS.get("_copy_without_render", [])
    )


def unrendered_leftovers(bake_result: Bake) -> list[str]:
    """Return 'path: marker' for every Jinja marker left in file names or text files."""
    leftovers = []
    for relative_path in sorted(bake_result.files):
        leftovers.extend(
            f"{relative_path} (in the path): {marker}"
            for marker in UNRENDERED_MARKERS
            if marker in relative_path
        )
        if copied_without_render(relative_path):
            continue
        try:
            text = (bake_result.project / relative_path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: cookiecutter copies it without rendering
        leftovers.extend(
            f"{relative_path}: {marker}" for marker in UNRENDERED_MARKERS if marker in text
        )
    return leftovers


def expected_files(answers: dict[str, Any]) -> frozenset[str]:
    """Return the files a bake with answers must contain: the template minus the hook's removals."""
    environment = create_env_with_context({"cookiecutter": answers})
    rendered = {
        environment.from_string(path.relative_to(TEMPLATE_DIR).as_posix()).render(
            cookiecutter=answers
        )
        for path in TEMPLATE_DIR.rglob("*")
        if path.is_file()
    }
    removed = set(post_gen_removals(answers))
    return frozenset(rendered - removed)


def post_gen_removals(answers: dict[str, Any]) -> list[str]:
    """Return the files the post-generation hook must remove for answers (spelled out here)."""
    package = answers["package_name"]
    removals = []
    # `fake` keeps both real providers: the user picks one later in .env.
    if answers["llm_provider"] == "openai":
        removals += [
            f"src/{package}/integrations/llm/anthropic.py",
            "tests/integrations/test_llm_anthropic.py",
            "tests/integrations/test_llm_anthropic_attachments.py",
        ]
    if answers["llm_provider"] == "anthropic":
        removals += [
            f"src/{package}/integrations/llm/openai_compat.py",
            "tests/integrations/test_llm_openai.py",
            "tests/integrations/test_llm_openai_attachments.py",
        ]
    if answers["telegram_alerts"] == "no":
        removals += [
            f"src/{package}/integrations/telegram.py",
            "tests/integrations/test_telegram.py",
        ]
    return removals


def assert_ruff_passes(bake_result: Bake) -> None:
    """Run the baked project's ruff lint and format check with its own settings; report both."""
    problems = []
    for command in (
        ["check", "--no-cache", "--output-format", "concise", "."],
        ["format", "--check", "--no-cache", "."],
    ):
        result = run_in(
            bake_result.project, [sys.executable, "-m", "ruff", *command], TOOL_TIMEOUT_SECONDS
        )
        if result.returncode != 0:
            problems.append(
                f"`ruff {' '.join(command)}` exited {result.returncode}:\n"
                f"{tail(result.stdout + result.stderr)}"
            )
    if problems:
        pytest.fail(f"ruff fails in {bake_result.label}:\n" + "\n".join(problems), pytrace=False)


def assert_baked_suite_passes(bake_result: Bake) -> None:
    """Run the baked project's own pytest as its user would, and report failures by name."""
    result = run_in(
        bake_result.project,
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        BAKED_SUITE_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        failed = [line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
        pytest.fail(
            f"the baked project {bake_result.label} fails its own tests "
            f"(pytest exit code {result.returncode}).\n"
            f"Failing tests:\n" + ("\n".join(failed) or "(none named; see the output)") + "\n"
            f"--- last {OUTPUT_TAIL_LINES} lines of its pytest output ---\n{tail(output)}",
            pytrace=False,
        )


@pytest.mark.parametrize(("llm_provider", "telegram_alerts"), COMBINATIONS)
def test_bake_leaves_no_template_syntax(
    baked_combination: Callable[[str, str], Bake], llm_provider: str, telegram_alerts: str
) -> None:
    bake_result = baked_combination(llm_provider, telegram_alerts)
    assert unrendered_leftovers(bake_result) == []


@pytest.mark.parametrize(("llm_provider", "telegram_alerts"), COMBINATIONS)
def test_bake_has_exactly_the_files_the_options_need(
    baked_combination: Callable[[str, str], Bake], llm_provider: str, telegram_alerts: str
) -> None:
    bake_result = baked_combination(llm_provider, telegram_alerts)
    expected = expected_files(bake_result.answers)
    assert sorted(expected - bake_result.files) == [], "missing from the bake"
    assert sorted(bake_result.files - expected) == [], "in the bake but not expected"
    for removal in post_gen_removals(bake_result.answers):
        assert not (bake_result.project / removal).exists()
    assert f"src/{bake_result.answers['package_name']}/integrations/llm/fake.py" in (
        bake_result.files
    )


@pytest.mark.parametrize(("llm_provider", "telegram_alerts"), COMBINATIONS)
def test_baked_project_passes_its_ruff_checks(
    baked_combination: Callable[[str, str], Bake], llm_provider: str, telegram_alerts: str
) -> None:
    assert_ruff_passes(baked_combination(llm_provider, telegram_alerts))


@pytest.mark.baked_tests
@pytest.mark.parametrize(("llm_provider", "telegram_alerts"), COMBINATIONS)
def test_baked_project_passes_its_own_tests(
    baked_combination: Callable[[str, str], Bake], llm_provider: str, telegram_alerts: str
) -> None:
    assert_baked_suite_passes(baked_combination(llm_provider, telegram_alerts))


def can_build_wheels_without_isolation() -> bool:
    """Tell whether setuptools can make wheels here (built in since 70.1, else via wheel)."""
    return any(
        importlib.util.find_spec(module) is not None
        for module in ("setuptools.command.bdist_wheel", "wheel")
    )


def test_baked_project_builds_a_wheel_with_script_and_data(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    if not can_build_wheels_without_isolation():
        pytest.fail(
            "this environment cannot build a wheel without build isolation: it needs "
            "setuptools>=70.1 or the wheel package; install requirements-dev.txt",
            pytrace=False,
        )
    # A bake of its own: an in-tree build leaves build/ and *.egg-info behind.
    bake_result = bake(tmp_path / "out", cookiecutter_config, agent_name="Wheel Check Bot")
    slug = bake_result.answers["agent_slug"]
    package = bake_result.answers["package_name"]
    wheel_dir = tmp_path / "wheels"
    result = run_in(
        bake_result.project,
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(wheel_dir),
            ".",
        ],
        TOOL_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, (
        f"pip wheel failed for {bake_result.label}:\n{tail(result.stdout + result.stderr)}"
    )
    (wheel,) = wheel_dir.glob("*.whl")

    data_files = sorted(
        path
        for path in bake_result.files
        if path.startswith(f"src/{package}/") and path.endswith((".json", ".csv"))
    )
    assert data_files, f"no *.json or *.csv under src/{package}/: the price table belongs there"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points_name,) = [
            name for name in names if name.endswith(".dist-info/entry_points.txt")
        ]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(entry_points_name).decode())
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()

    assert entry_points["console_scripts"][slug] == f"{package}.cli:main"
    missing = [path for path in data_files if path.removeprefix("src/") not in names]
    assert missing == [], "data files left out of the wheel"
    assert f"\nName: {slug}\n" in metadata
    assert f"\nVersion: {bake_result.answers['version']}\n" in metadata


# (id, answers, the field the pre-generation hook must name, or None when the bake must succeed)
HOSTILE_ANSWERS = [
    ("apostrophe", {"agent_name": "O'Brien"}, None),
    ("unicode-and-double-quotes", {"agent_name": 'Zoë "Q" Agent'}, None),
    ("backslashes", {"agent_name": "Back\\slash \\n Agent\\"}, None),
    (
        "quotes-in-every-text-answer",
        {
            "agent_name": "Tri'''ple \"\"\" Agent",
            "description": 'She said "it\'s done" \\o/ <b>&amp;</b> {braces} $HOME `id`',
            "author_name": "Zoë O'Brien-Ça \\",
        },
        None,
    ),
    (
        "longest-accented-answers",
        {
            "agent_name": "Zoë " + "é" * 96,
            "agent_slug": "accented-bot",
            "description": "Ça " + "ü" * 297,
        },
        None,
    ),
    ("dot-dot-slug", {"agent_slug": "../x"}, "agent_slug"),
    (
        "50-character-slug",
        {"agent_slug": "a-very-long-agent-slug-that-goes-on-and-on-for-50c"},
        "agent_slug",
    ),
    # The default slug keeps the whole words that fit: "an-agent-name-that-is".
    (
        "50-character-name",
        {"agent_name": "An Agent Name That Is Fifty Characters Long Really"},
        None,
    ),
    ("uppercase-underscore-slug", {"agent_slug": "Bad_Slug"}, "agent_slug"),
    ("reserved-slug", {"agent_slug": "root"}, "agent_slug"),
    ("stdlib-slug", {"agent_slug": "json"}, "agent_slug"),
    ("negative-budget", {"daily_budget_usd": "-1"}, "daily_budget_usd"),
    ("word-budget", {"daily_budget_usd": "abc"}, "daily_budget_usd"),
    ("newline-in-name", {"agent_name": "Two\nLines"}, "agent_name"),
    ("emoji-in-description", {"description": "Reads \U0001f4c4 documents"}, "description"),
    ("keyword-package", {"package_name": "class"}, "package_name"),
    ("space-in-model", {"llm_model": "gpt 4o"}, "llm_model"),
    ("v-prefixed-version", {"version": "v1.0"}, "version"),
]


def agent_name_in_package(bake_result: Bake) -> str:
    """Return the AGENT_NAME constant of the baked package, read without importing it."""
    init = bake_result.project / "src" / bake_result.answers["package_name"] / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [
            getattr(target, "id", None) for target in node.targets
        ] == ["AGENT_NAME"]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no AGENT_NAME constant in {init}")


def test_hostile_cases_cover_the_brief() -> None:
    # The cases named by the issue and the brief must stay in the list.
    values = {value for _, answers, _ in HOSTILE_ANSWERS for value in answers.values()}
    for required in ("O'Brien", 'Zoë "Q" Agent', "../x", "Bad_Slug", "root", "json", "-1", "abc"):
        assert required in values
    assert any(len(value) == 50 for value in values)


@pytest.mark.parametrize(
    ("answers", "rejected_field"),
    [pytest.param(answers, field, id=case_id) for case_id, answers, field in HOSTILE_ANSWERS],
)
def test_hostile_answers_bake_cleanly_or_fail_in_the_hook(
    tmp_path: Path,
    cookiecutter_config: Path,
    capfd: pytest.CaptureFixture[str],
    answers: dict[str, str],
    rejected_field: str | None,
) -> None:
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    if rejected_field is not None:
        with pytest.raises(FailedHookException):
            bake(output_dir, cookiecutter_config, **answers)
        # The hook runs as a child process writing to the real stderr, hence capfd; it must have
        # written one line and nothing else (no traceback).
        (message,) = capfd.readouterr().err.splitlines()
        assert message.startswith(f"{HOOK_MESSAGE_PREFIX}{rejected_field} ")
        assert "Fix: " in message
        assert list(output_dir.iterdir()) == [], "the failed bake left files behind"
        assert not (tmp_path / "x").exists(), "a '../x' slug escaped the output directory"
        return

    bake_result = bake(output_dir, cookiecutter_config, **answers)
    pyproject = tomllib.loads((bake_result.project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == bake_result.answers["agent_slug"]
    assert pyproject["project"]["description"] == bake_result.answers["description"]
    assert pyproject["project"]["authors"][0]["name"] == bake_result.answers["author_name"]
    assert agent_name_in_package(bake_result) == bake_result.answers["agent_name"]
    assert unrendered_leftovers(bake_result) == []
    assert_ruff_passes(bake_result)


@pytest.mark.baked_tests
def test_hostile_bake_passes_its_own_tests(tmp_path: Path, cookiecutter_config: Path) -> None:
    # The nastiest accepted answers end up in the baked code and its tests; they must still pass.
    (_, answers, _) = next(
        case for case in HOSTILE_ANSWERS if case[0] == "quotes-in-every-text-answer"
    )
    assert_baked_suite_passes(bake(tmp_path / "out", cookiecutter_config, **answers))


def run_cookiecutter(
    arguments: list[str], cwd: Path, config_file: Path, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `cookiecutter --no-input` command on this template from cwd, as a user types it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--config-file",
            str(config_file),
            *arguments,
        ],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
    )


def test_a_long_agent_name_bakes_with_no_input_under_a_slug_that_fits(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    # 34 characters as one slug, beyond the hook's limit; the default must be one the hook takes.
    agent_name = "Main Street Clinic Document Intake"
    output_dir = tmp_path / "out"
    result = run_cookiecutter(
        ["--output-dir", str(output_dir), str(REPO_ROOT), f"agent_name={agent_name}"],
        tmp_path,
        cookiecutter_config,
    )
    assert result.returncode == 0, f"the bake failed:\n{tail(result.stdout + result.stderr)}"
    (project,) = output_dir.iterdir()
    assert project.name == "main-street-clinic"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == "main-street-clinic"
    assert pyproject["project"]["scripts"] == {"main-street-clinic": "main_street_clinic.cli:main"}
    (package,) = (project / "src").iterdir()
    assert package.name == "main_street_clinic"
    init = package / "__init__.py"
    assert f"AGENT_NAME = {json.dumps(agent_name)}" in init.read_text(encoding="utf-8")


def next_steps_cd_line(output: str) -> str:
    """Return the `cd` command of the post-generation hook's next steps."""
    (line,) = [line.strip() for line in output.splitlines() if line.strip().startswith("cd ")]
    return line


def directory_after(command: str, cwd: Path) -> Path:
    """Run command in bash from cwd and return the physical directory it ends in."""
    result = subprocess.run(
        ["bash", "-c", f"{command} && pwd -P"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=True,
    )
    return Path(result.stdout.strip())


@pytest.mark.parametrize(
    ("output_dir", "shown"),
    [
        pytest.param(None, "document-intake-agent", id="no-output-dir"),
        pytest.param("agents", "agents/document-intake-agent", id="relative-output-dir"),
        pytest.param("ABSOLUTE", "agents/document-intake-agent", id="absolute-output-dir-inside"),
    ],
)
def test_next_steps_cd_into_the_project_from_the_users_directory(
    tmp_path: Path, cookiecutter_config: Path, output_dir: str | None, shown: str
) -> None:
    user_dir = tmp_path / "home"
    user_dir.mkdir()
    arguments = [str(REPO_ROOT)]
    if output_dir is not None:
        target = str(user_dir / "agents") if output_dir == "ABSOLUTE" else output_dir
        arguments = ["-o", target, *arguments]
    # A shell sets PWD to the directory the user types in; cookiecutter then works elsewhere.
    environment = {**os.environ, "PWD": str(user_dir)}
    result = run_cookiecutter(arguments, user_dir, cookiecutter_config, environment)
    assert result.returncode == 0, f"the bake failed:\n{tail(result.stdout + result.stderr)}"
    project = user_dir / shown
    assert project.is_dir()
    cd = next_steps_cd_line(result.stdout)
    assert cd == f"cd {shown}"
    assert f"Your agent is in {shown}." in result.stdout
    assert directory_after(cd, user_dir) == project.resolve()


def test_next_steps_give_an_absolute_path_when_the_project_is_far_away(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    user_dir = tmp_path.joinpath(*["deep"] * 40)
    user_dir.mkdir(parents=True)
    output_dir = tmp_path / "agents"
    environment = {**os.environ, "PWD": str(user_dir)}
    result = run_cookiecutter(
        ["-o", str(output_dir), str(REPO_ROOT)], user_dir, cookiecutter_config, environment
    )
    assert result.returncode == 0, f"the bake failed:\n{tail(result.stdout + result.stderr)}"
    project = (output_dir / "document-intake-agent").resolve()
    cd = next_steps_cd_line(result.stdout)
    assert cd == f"cd {project}"
    assert directory_after(cd, user_dir) == project
