"""Unit tests of the cookiecutter hooks, imported straight from the unrendered files."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context
from hypothesis import given, settings
from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[1]
HOOKS_DIR = REPO_ROOT / "hooks"
COOKIECUTTER_JSON = REPO_ROOT / "cookiecutter.json"

VALID_ANSWERS = {
    "agent_name": "Document Intake Agent",
    "agent_slug": "document-intake-agent",
    "package_name": "document_intake_agent",
    "description": "Reads documents from its inbox.",
    "author_name": "Your Name",
    "llm_provider": "fake",
    "llm_model": "fake-extractor-1",
    "daily_budget_usd": "5.00",
    "telegram_alerts": "yes",
    "version": "0.1.0",
}


def load_hook(name: str) -> ModuleType:
    """Import hooks/<name>.py as a module without rendering it."""
    spec = importlib.util.spec_from_file_location(f"hook_{name}", HOOKS_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")


def answers(**changes: str) -> dict[str, str]:
    """Return the valid answers with some of them changed."""
    return {**VALID_ANSWERS, **changes}


def rejection(**changes: str) -> pre_gen.AnswerError:
    """Validate answers with changes and return the error they must raise."""
    with pytest.raises(pre_gen.AnswerError) as caught:
        pre_gen.validate_answers(answers(**changes))
    return caught.value


def test_valid_answers_pass() -> None:
    pre_gen.validate_answers(answers())


@pytest.mark.parametrize(
    "slug",
    [
        "a",
        "intake-bot",
        "invoice-bot-2",
        "x" * pre_gen.SLUG_MAX_LENGTH,
        "json-bot",  # a stdlib name plus a suffix is fine
    ],
)
def test_good_slugs_pass(slug: str) -> None:
    pre_gen.check_agent_slug(slug)


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("", "is empty"),
        ("../x", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("a..b", "path separator"),
        ("Bad_Slug", "lowercase letter"),
        ("bad_slug", "lowercase letter"),
        ("1bot", "lowercase letter"),
        ("-bot", "lowercase letter"),
        ("bot bot", "lowercase letter"),
        ("zoë", "lowercase letter"),
        ("bot-", 'end with "-"'),
        ("bot--two", 'contain "--"'),
        ("x" * (pre_gen.SLUG_MAX_LENGTH + 1), "the limit is 26"),
        ("a" * 50, "the limit is 26"),
        ("root", "reserved"),
        ("agents", "reserved"),
        ("pillars", "reserved"),
        ("tests", "reserved"),
        ("nul", "reserved"),
        ("json", "shadow"),
        ("email", "shadow"),
        ("this", "shadow"),
        ("site", "shadow"),
        ("requests", "shadow"),
        ("pypdf", "shadow"),
    ],
)
def test_bad_slugs_are_rejected_with_reason(slug: str, reason: str) -> None:
    error = rejection(agent_slug=slug, package_name="fine_package")
    assert error.field == "agent_slug"
    assert reason in str(error)


def test_slug_limit_leaves_room_for_the_system_user_prefix() -> None:
    longest_user = pre_gen.SYSTEM_USER_PREFIX + "x" * pre_gen.SLUG_MAX_LENGTH
    assert len(longest_user) == 32


def default_answers(agent_name: str) -> dict[str, str]:
    """Return the answers cookiecutter derives for agent_name when every other prompt is skipped."""
    context = generate_context(
        context_file=str(COOKIECUTTER_JSON), extra_context={"agent_name": agent_name}
    )
    return dict(prompt_for_config(context, no_input=True))


@pytest.mark.parametrize(
    ("agent_name", "slug"),
    [
        ("Document Intake Agent", "document-intake-agent"),
        # 34 characters in full: the default keeps the whole words that fit.
        ("Main Street Clinic Document Intake", "main-street-clinic"),
        ("An Agent Name That Is Fifty Characters Long Really", "an-agent-name-that-is"),
        ("St. Mary's Hospital Admissions Desk", "st-mary-s-hospital"),
        # One word longer than the limit is cut, not dropped.
        ("Supercalifragilisticexpialidocious Intake", "supercalifragilisticexpial"),
        ("x" * pre_gen.SLUG_MAX_LENGTH, "x" * pre_gen.SLUG_MAX_LENGTH),
    ],
)
def test_default_slug_keeps_whole_words_within_the_limit(agent_name: str, slug: str) -> None:
    derived = default_answers(agent_name)
    assert derived["agent_slug"] == slug
    assert derived["package_name"] == slug.replace("-", "_")
    pre_gen.check_agent_slug(derived["agent_slug"])
    pre_gen.check_package_name(derived["package_name"])


@settings(max_examples=150, deadline=None)
@given(
    first=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=40),
    rest=st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzéÇ0123456789", min_size=1, max_size=30),
        max_size=10,
    ),
)
def test_default_slug_of_any_name_fits_the_system_user_limit(first: str, rest: list[str]) -> None:
    # The name starts with a letter, so only its length could make the default slug invalid.
    agent_name = " ".join([first.capitalize(), *rest])
    derived = default_answers(agent_name)
    slug = derived["agent_slug"]
    assert 0 < len(slug) <= pre_gen.SLUG_MAX_LENGTH, agent_name
    assert pre_gen.SLUG_PATTERN.fullmatch(slug), agent_name
    assert not slug.endswith("-") and "--" not in slug, agent_name
    assert pre_gen.PACKAGE_NAME_PATTERN.fullmatch(derived["package_name"]), agent_name


@pytest.mark.parametrize(
    ("slug", "suggestion"),
    [
        ("Bad_Slug", '"bad-slug"'),
        ("../x", '"x"'),
        ("bot--two", '"bot-two"'),
        ("1bot", '"intake-bot"'),
    ],
)
def test_slug_message_suggests_a_valid_slug(slug: str, suggestion: str) -> None:
    error = rejection(agent_slug=slug)
    assert str(error).endswith(f"e.g. {suggestion}.")
    pre_gen.check_agent_slug(json.loads(suggestion))


@pytest.mark.parametrize("package_name", ["intake_bot", "bot2", "a"])
def test_good_package_names_pass(package_name: str) -> None:
    pre_gen.check_package_name(package_name)


@pytest.mark.parametrize(
    ("package_name", "reason"),
    [
        ("", "not a valid package name"),
        ("intake-bot", "not a valid package name"),
        ("Intake", "not a valid package name"),
        ("_private", "not a valid package name"),
        ("zoë", "not a valid package name"),
        ("café_bot", "not a valid package name"),
        ("2bot", "not a valid package name"),
        ("class", "keyword"),
        ("import", "keyword"),
        ("src", "reserved"),
        ("json", "shadow"),
        ("dotenv", "shadow"),
        ("conftest", "shadow"),
    ],
)
def test_bad_package_names_are_rejected(package_name: str, reason: str) -> None:
    error = rejection(package_name=package_name)
    assert error.field == "package_name"
    assert reason in str(error)


@pytest.mark.parametrize(
    ("field", "limit"),
    [("agent_name", 100), ("description", 300), ("author_name", 100)],
)
def test_text_length_limits(field: str, limit: int) -> None:
    pre_gen.validate_answers(answers(**{field: "x" * limit}))
    error = rejection(**{field: "x" * (limit + 1)})
    assert error.field == field
    assert f"the limit is {limit}" in str(error)


@pytest.mark.parametrize("field", ["agent_name", "description", "author_name"])
@pytest.mark.parametrize(
    "bad_text",
    [
        "two\nlines",
        "carriage\rreturn",
        "tab\there",
        "bell\x07",
        "del\x7f",
        "sep\u2028arator",
        "bidi\u202eoverride",
        "nul\x00",
    ],
)
def test_control_characters_in_text_are_rejected(field: str, bad_text: str) -> None:
    error = rejection(**{field: bad_text})
    assert error.field == field
    assert "control character" in str(error)


@pytest.mark.parametrize("field", ["agent_name", "description", "author_name"])
def test_characters_above_the_bmp_are_rejected(field: str) -> None:
    error = rejection(**{field: "Intake \U0001f4c4 Bot"})
    assert error.field == field
    assert "U+1F4C4" in str(error)


@pytest.mark.parametrize(
    "text", ["O'Brien", 'Zoë "Q" Agent', "Back\\slash \\n Agent\\", "Tri'''ple \"\"\" quotes"]
)
def test_quotes_backslashes_and_accents_are_fine_in_text(text: str) -> None:
    pre_gen.validate_answers(answers(agent_name=text, description=text, author_name=text))


def test_agent_name_is_required_but_description_is_not() -> None:
    assert rejection(agent_name="   ").field == "agent_name"
    pre_gen.validate_answers(answers(description="", author_name=""))


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5",
        "gpt-4o-mini",
        "qwen2.5:7b-instruct-q4_K_M",
        "meta-llama/llama-3.1-8b-instruct",
        "anthropic.claude-3-haiku-20240307-v1:0",
        "fake-extractor-1",
    ],
)
def test_real_model_ids_pass(model: str) -> None:
    pre_gen.check_llm_model(model)


@pytest.mark.parametrize(
    "model", ["", "gpt 4", " gpt-4", "gpt-4\n", "gpt\t4", 'gpt"4', "gpt'4", "-gpt", "x" * 201]
)
def test_bad_model_ids_are_rejected(model: str) -> None:
    assert rejection(llm_model=model).field == "llm_model"


@pytest.mark.parametrize("budget", ["5", "5.00", "0.01", "1000", "2.5"])
def test_positive_budgets_pass(budget: str) -> None:
    pre_gen.check_daily_budget(budget)


@pytest.mark.parametrize(
    "budget",
    ["-1", "abc", "0", "0.00", "", "5.", ".5", "1e3", "$5", "5 ", "NaN", "Infinity", "\u0665"],
)
def test_bad_budgets_are_rejected(budget: str) -> None:
    error = rejection(daily_budget_usd=budget)
    assert error.field == "daily_budget_usd"
    assert "positive amount" in str(error)


@pytest.mark.parametrize("version", ["0.1.0", "1", "1.0rc1", "2.0.post1", "1.0.dev3", "1!2.0"])
def test_canonical_versions_pass(version: str) -> None:
    pre_gen.check_version(version)


@pytest.mark.parametrize(
    "version", ["", "v1.0", "1.0-rc1", "01.0", "1.0.0-beta", "one", "1.0+local", "1.0 "]
)
def test_non_canonical_versions_are_rejected(version: str) -> None:
    assert rejection(version=version).field == "version"


@pytest.mark.parametrize(
    ("field", "value"),
    [("llm_provider", "gemini"), ("llm_provider", ""), ("telegram_alerts", "y")],
)
def test_choices_outside_the_list_are_rejected(field: str, value: str) -> None:
    assert rejection(**{field: value}).field == field


def test_main_prints_one_line_and_returns_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert pre_gen.main(answers(agent_slug="Bad_Slug")) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith('pillars: agent_slug "Bad_Slug" ')
    assert "Fix:" in captured.err


def test_main_is_silent_on_good_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert pre_gen.main(answers()) == 0
    assert capsys.readouterr() == ("", "")


def test_message_stays_on_one_line_whatever_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert pre_gen.main(answers(agent_name="evil\nname\r\x1b[31m" + "x" * 200)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "\x1b" not in err
    assert "..." in err  # long values are shortened


def test_main_reports_non_string_answers_readably(capsys: pytest.CaptureFixture[str]) -> None:
    assert pre_gen.main({**answers(), "daily_budget_usd": -1}) == 1  # type: ignore[dict-item]
    assert 'daily_budget_usd "-1"' in capsys.readouterr().err


def render_hook(name: str, context: dict[str, str], destination: Path) -> Path:
    """Render hooks/<name>.py with cookiecutter's own Jinja environment, as cookiecutter does."""
    full_context = {"cookiecutter": {"_repo_dir": str(REPO_ROOT), **context}}
    environment = create_env_with_context(full_context)
    source = (HOOKS_DIR / f"{name}.py").read_text(encoding="utf-8")
    rendered = destination / f"{name}.py"
    text = environment.from_string(source).render(**full_context)
    rendered.write_text(text, encoding="utf-8")
    return rendered


@pytest.mark.parametrize(
    "hostile",
    [
        "O'Brien",
        'Zoë "Q" Agent',
        "Back\\slash \\n Agent\\",
        "Tri'''ple \"\"\" quotes",
        "ends with a backslash \\",
        "r'raw' and {braces} and \\u0027",
    ],
)
def test_rendered_pre_gen_hook_reads_answers_exactly(tmp_path: Path, hostile: str) -> None:
    # A valid hostile name passes; the same text plus a newline is echoed back in the message,
    # which proves the rendered hook decoded every character of the answer as given.
    ok_hook = render_hook("pre_gen_project", answers(agent_name=hostile), tmp_path)
    ok = subprocess.run([sys.executable, str(ok_hook)], capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stderr) == (0, "")

    bad_value = hostile + "\nsecond line"
    bad_hook = render_hook("pre_gen_project", answers(agent_name=bad_value), tmp_path)
    bad = subprocess.run(
        [sys.executable, str(bad_hook)], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"pillars: agent_name {pre_gen.show(bad_value)} ")
    assert bad.stderr.count("\n") == 1


ALL_OPTIONAL_FILES = sorted(
    {path for provider_paths in post_gen.PROVIDER_FILES.values() for path in provider_paths}
    | set(post_gen.TELEGRAM_FILES)
)


def make_full_project(root: Path, package_name: str) -> None:
    """Create every optional file plus the files that must always stay."""
    for template in [*ALL_OPTIONAL_FILES, "src/{package}/integrations/llm/fake.py"]:
        path = root / template.format(package=package_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# placeholder\n", encoding="utf-8")


@pytest.mark.parametrize("telegram_alerts", ["yes", "no"])
@pytest.mark.parametrize("llm_provider", ["fake", "anthropic", "openai"])
def test_post_gen_removes_exactly_what_the_options_do_not_need(
    tmp_path: Path, llm_provider: str, telegram_alerts: str
) -> None:
    package = "intake_bot"
    make_full_project(tmp_path, package)
    removed = post_gen.remove_unneeded(tmp_path, package, llm_provider, telegram_alerts)

    remaining = {
        path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()
    }
    anthropic = f"src/{package}/integrations/llm/anthropic.py"
    openai = f"src/{package}/integrations/llm/openai_compat.py"
    telegram = f"src/{package}/integrations/telegram.py"
    assert f"src/{package}/integrations/llm/fake.py" in remaining
    keeps_anthropic = llm_provider in ("anthropic", "fake")
    keeps_openai = llm_provider in ("openai", "fake")
    assert (anthropic in remaining) == keeps_anthropic
    assert ("tests/integrations/test_llm_anthropic.py" in remaining) == keeps_anthropic
    assert ("tests/integrations/test_llm_anthropic_attachments.py" in remaining) == keeps_anthropic
    assert (openai in remaining) == keeps_openai
    assert ("tests/integrations/test_llm_openai.py" in remaining) == keeps_openai
    assert ("tests/integrations/test_llm_openai_attachments.py" in remaining) == keeps_openai
    assert (telegram in remaining) == (telegram_alerts == "yes")
    assert ("tests/integrations/test_telegram.py" in remaining) == (telegram_alerts == "yes")
    assert {path.relative_to(tmp_path).as_posix() for path in removed}.isdisjoint(remaining)


def test_post_gen_tolerates_missing_files(tmp_path: Path) -> None:
    assert post_gen.remove_unneeded(tmp_path, "intake_bot", "fake", "no") == []


def test_rendered_post_gen_hook_trims_and_prints_next_steps(tmp_path: Path) -> None:
    project = tmp_path / "intake-bot"
    make_full_project(project, "intake_bot")
    hook = render_hook(
        "post_gen_project",
        answers(
            agent_slug="intake-bot",
            package_name="intake_bot",
            llm_provider="openai",
            telegram_alerts="no",
        ),
        tmp_path,
    )
    # As from a shell in tmp_path: cookiecutter runs the hook inside the project it made there.
    result = subprocess.run(
        [sys.executable, str(hook)],
        cwd=project,
        env={**os.environ, "PWD": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert not (project / "src/intake_bot/integrations/llm/anthropic.py").exists()
    assert not (project / "src/intake_bot/integrations/telegram.py").exists()
    assert (project / "src/intake_bot/integrations/llm/openai_compat.py").exists()
    for step in (
        "cd intake-bot",
        "python3 -m venv .venv",
        "pip install -e '.[test]'",
        "cp .env.example .env",
        "chmod 600 .env",
        "intake-bot once",
        "pytest",
    ):
        assert step in result.stdout


def test_next_steps_path_is_relative_to_the_users_directory_when_inside_it(tmp_path: Path) -> None:
    project = tmp_path / "out" / "intake-bot"
    project.mkdir(parents=True)
    assert post_gen.shown_path(project, str(tmp_path)) == "out/intake-bot"
    assert post_gen.shown_path(project, str(tmp_path / "out")) == "intake-bot"
    assert post_gen.shown_path(project, str(project)) == "."


def test_next_steps_path_is_absolute_when_shorter_or_the_users_directory_is_unknown(
    tmp_path: Path,
) -> None:
    project = tmp_path / "intake-bot"
    project.mkdir()
    deep = tmp_path.joinpath(*["d"] * 60)
    deep.mkdir(parents=True)
    assert post_gen.shown_path(project, str(deep)) == str(project)  # "../" * 60 is longer
    for unknown in (None, "", "relative/dir", str(tmp_path / "gone")):
        assert post_gen.shown_path(project, unknown) == str(project)


def test_next_steps_path_follows_a_linked_users_directory(tmp_path: Path) -> None:
    project = tmp_path / "real" / "out" / "intake-bot"
    project.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert post_gen.shown_path(project, str(tmp_path / "link")) == "out/intake-bot"


def test_next_steps_quote_the_path_and_never_pass_it_as_an_option(tmp_path: Path) -> None:
    project = tmp_path / "-my agents" / "intake-bot"
    project.mkdir(parents=True)
    shown = post_gen.shown_path(project, str(tmp_path))
    assert shown == "./-my agents/intake-bot"
    steps = post_gen.next_steps(shown, "intake-bot")
    assert "  cd './-my agents/intake-bot'\n" in steps


def test_the_slug_rule_is_loaded_from_the_agents_contract() -> None:
    layout = REPO_ROOT.glob("*/src/*/contract/layout.py")
    assert pre_gen.LAYOUT.__file__ == str(next(layout))
    assert pre_gen.SLUG_PATTERN is pre_gen.LAYOUT.SLUG_PATTERN


def test_the_template_is_found_from_an_absolute_or_a_relative_repo_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert pre_gen.template_dir(json.dumps(str(REPO_ROOT))) == REPO_ROOT
    monkeypatch.setenv("PWD", str(REPO_ROOT.parent))

    found = pre_gen.template_dir(json.dumps(REPO_ROOT.name))

    assert any(found.glob(pre_gen.LAYOUT_GLOB))
