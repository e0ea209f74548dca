"""Settings and secrets: one private .env, nothing exported, every bad value named with its fix."""

import io
import logging
import os
from pathlib import Path

import hypothesis
import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.security import settings as settings_module
from {{ cookiecutter.package_name }}.security.settings import SettingsError, load_settings
from {{ cookiecutter.package_name }}.security.settings_schema import (
    NUMBER,
    SECRET_KEYS,
    SETTINGS,
    WHOLE,
    Setting,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
NUMBERS = [setting for setting in SETTINGS if setting.kind in (NUMBER, WHOLE)]

API_KEY = "sk-test-Settings-Secret-0123456789"
BOT_TOKEN = "123456:Settings-Bot-Token-abcdefghijklmnop"
ENVIRONMENT_KEYS = (
    "CREDENTIALS_DIRECTORY",
    "STATE_DIRECTORY",
    "LOGS_DIRECTORY",
    "LLM_API_KEY",
    "TELEGRAM_BOT_TOKEN",
    "LLM_MODEL",
)


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch) -> Path:
    """Run each test in an empty folder, with none of systemd's variables set."""
    for key in ENVIRONMENT_KEYS:
        monkeypatch.delenv(key, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write_env(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_no_env_file_gives_the_baked_defaults(workdir):
    settings = load_settings()

    assert settings.env_file is None
    assert settings.llm_provider == "{{ cookiecutter.llm_provider }}"
    assert settings.llm_model == "{{ cookiecutter.llm_model }}"
    assert settings.daily_budget_usd == {{ cookiecutter.daily_budget_usd|float }}
    assert settings.state_dir == (workdir / "var").resolve()
    assert settings.log_file is None
    assert settings.secrets() == []


def test_values_are_read_from_the_local_env_file(workdir):
    write_env(
        workdir / ".env",
        "# comment\n\n"
        "LLM_PROVIDER=OpenAI\n"
        "export LLM_MODEL=gpt-4o-mini\n"
        f"LLM_API_KEY='{API_KEY}'\n"
        "LLM_BASE_URL=http://127.0.0.1:8080/v1/\n"
        "DAILY_BUDGET_USD=2.5\n"
        "MAX_ATTEMPTS=4\n"
        "HEALTH_SERVICES=nginx.service, postgresql@15-main.service\n"
        "LOG_LEVEL=debug\n",
    )

    settings = load_settings()

    assert settings.env_file == Path(".env")
    assert settings.llm_provider == "openai"
    assert settings.llm_model == "gpt-4o-mini"
    assert settings.llm_api_key == API_KEY
    assert settings.llm_base_url == "http://127.0.0.1:8080/v1"
    assert settings.daily_budget_usd == 2.5
    assert settings.max_attempts == 4
    assert settings.health_services == ("nginx.service", "postgresql@15-main.service")
    assert settings.log_level == "DEBUG"


def test_values_are_taken_literally_without_interpolation(workdir):
    write_env(workdir / ".env", "LLM_API_KEY=abc$HOME${USER}def\n")

    assert load_settings().llm_api_key == "abc$HOME${USER}def"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_an_env_file_others_can_read_is_refused_with_the_fix(workdir, mode):
    write_env(workdir / ".env", f"LLM_API_KEY={API_KEY}\n", mode=mode)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    message = str(caught.value)
    assert "chmod 600 .env" in message
    assert f"{mode:04o}" in message
    assert "\n" not in message
    assert API_KEY not in message


def test_an_explicit_env_file_is_checked_too(tmp_path):
    path = write_env(tmp_path / "elsewhere" / "agent.env", "LLM_MODEL=x\n", mode=0o644)

    with pytest.raises(SettingsError, match="chmod 600"):
        load_settings(env_file=str(path))


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_env_file_is_accepted(workdir, mode):
    write_env(workdir / ".env", "LLM_MODEL=private-model\n", mode=mode)

    assert load_settings().llm_model == "private-model"


def test_a_missing_explicit_env_file_says_how_to_create_it(tmp_path):
    with pytest.raises(SettingsError, match=r"does not exist; fix: cp \.env\.example"):
        load_settings(env_file=str(tmp_path / "nope.env"))


def test_a_malformed_line_names_its_line_number(workdir):
    write_env(
        workdir / ".env",
        f"LLM_MODEL=gpt-4o-mini\n# a comment\nthis is not a setting\nLLM_API_KEY={API_KEY}\n",
    )

    with pytest.raises(SettingsError, match="line 3") as caught:
        load_settings()

    assert "KEY=value" in str(caught.value)
    assert API_KEY not in str(caught.value)


UNCLOSED = "not closed"
TRAILING = "after its closing quote"


@pytest.mark.parametrize(
    ("text", "line", "key", "problem"),
    [
        ('LLM_PROVIDER=fake\nLLM_MODEL="gpt-4o-mini\nMAX_ATTEMPTS=3\n', 2, "LLM_MODEL", UNCLOSED),
        ("# settings\n\n\nLLM_MODEL='gpt-4o-mini\n", 4, "LLM_MODEL", UNCLOSED),
        # python-dotenv would read on to the next quote, swallowing the settings in between.
        ('LLM_MODEL="gpt-4o-mini\nMAX_ATTEMPTS=1\nLOG_LEVEL="DEBUG"\n', 1, "LLM_MODEL", UNCLOSED),
        ('LLM_MODEL="gpt-4o-mini\nMAX_ATTEMPTS=1"\n', 1, "LLM_MODEL", UNCLOSED),
        ('export LLM_MODEL = "gpt-4o-mini\n', 1, "LLM_MODEL", UNCLOSED),
        ('LLM_MODEL="gpt-4o" mini\n', 1, "LLM_MODEL", TRAILING),
        ("LLM_MODEL='gpt-4o'mini\n", 1, "LLM_MODEL", TRAILING),
    ],
)
def test_an_unbalanced_quote_is_refused_with_its_line_and_key(workdir, text, line, key, problem):
    write_env(workdir / ".env", text)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    message = str(caught.value)
    assert message.startswith(f".env line {line}: ")
    assert key in message and problem in message and "fix: " in message
    assert "\n" not in message


def test_an_unbalanced_quote_in_a_secret_does_not_show_the_secret(workdir):
    write_env(workdir / ".env", f'LLM_MODEL=gpt-4o-mini\nLLM_API_KEY="{API_KEY}\n')

    with pytest.raises(SettingsError, match=r"line 2: .* LLM_API_KEY") as caught:
        load_settings()

    assert API_KEY not in str(caught.value)


def test_quotes_that_close_on_their_line_are_read_as_before(workdir):
    write_env(
        workdir / ".env",
        'LLM_MODEL="gpt-4o-mini"  # the default\n'
        "LLM_API_KEY='it\\'s-a-key'\n"
        'TELEGRAM_CHAT_ID="12\\"34"\r\n'
        "\n  \n"
        'LOG_LEVEL=debug"\n'
        'LLM_BASE_URL=""\n',
    )

    values = settings_module.read_env_file(workdir / ".env")

    assert values == {
        "LLM_MODEL": "gpt-4o-mini",
        "LLM_API_KEY": "it's-a-key",
        "TELEGRAM_CHAT_ID": '12"34',
        "LOG_LEVEL": 'debug"',
        "LLM_BASE_URL": "",
    }


def test_a_file_that_is_not_utf8_is_refused(workdir):
    path = workdir / ".env"
    path.write_bytes(b"LLM_MODEL=caf\xe9\n")
    path.chmod(0o600)

    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings()


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("DAILY_BUDGET_USD=five dollars", "DAILY_BUDGET_USD"),
        ("DAILY_BUDGET_USD=-1", "DAILY_BUDGET_USD"),
        ("MAX_ATTEMPTS=-1", "MAX_ATTEMPTS"),
        ("MAX_ATTEMPTS=0", "MAX_ATTEMPTS"),
        ("MAX_ATTEMPTS=2.5", "MAX_ATTEMPTS"),
        ("POLL_INTERVAL_SECONDS=soon", "POLL_INTERVAL_SECONDS"),
        ("MAX_FILE_MB=0", "MAX_FILE_MB"),
        ("LOG_LEVEL=chatty", "LOG_LEVEL"),
    ],
)
def test_a_bad_value_names_its_key(workdir, line, key):
    write_env(workdir / ".env", line + "\n")

    with pytest.raises(SettingsError, match=key):
        load_settings()


@pytest.mark.parametrize("key", ["DAILY_BUDGET_USD", "POLL_INTERVAL_SECONDS", "MAX_FILE_MB"])
def test_not_a_number_is_refused(workdir, key):
    """NaN passes every `< minimum` check, and a NaN budget is never reached: spend is unlimited."""
    write_env(workdir / ".env", f"{key}=nan\n")

    with pytest.raises(SettingsError, match=key):
        load_settings()


def test_secrets_stay_out_of_the_process_environment(workdir):
    write_env(
        workdir / ".env",
        f"LLM_API_KEY={API_KEY}\nTELEGRAM_BOT_TOKEN={BOT_TOKEN}\nLLM_MODEL=from-file\n",
    )
    before = dict(os.environ)

    settings = load_settings()

    assert settings.llm_api_key == API_KEY
    assert dict(os.environ) == before
    assert not any(API_KEY in value or BOT_TOKEN in value for value in os.environ.values())


def test_secrets_lists_the_values_to_redact(workdir):
    write_env(workdir / ".env", f"LLM_API_KEY={API_KEY}\nTELEGRAM_BOT_TOKEN={BOT_TOKEN}\n")

    assert sorted(load_settings().secrets()) == sorted([API_KEY, BOT_TOKEN])


def test_secrets_skips_values_too_short_to_redact_safely(workdir):
    # Redacting "x" would blank out every x in every log line.
    write_env(workdir / ".env", f"LLM_API_KEY=x\nTELEGRAM_BOT_TOKEN={BOT_TOKEN}\n")

    assert load_settings().secrets() == [BOT_TOKEN]


def test_repr_never_shows_the_secrets(workdir):
    write_env(workdir / ".env", f"LLM_API_KEY={API_KEY}\nTELEGRAM_BOT_TOKEN={BOT_TOKEN}\n")

    settings = load_settings()

    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert API_KEY not in text
        assert BOT_TOKEN not in text
    assert "llm_model=" in repr(settings)


def test_the_systemd_credential_is_preferred_over_the_local_file(tmp_path, workdir, monkeypatch):
    credentials = tmp_path / "credentials"
    credential = write_env(credentials / "env", "LLM_MODEL=from-credential\n", mode=0o400)
    write_env(workdir / ".env", "LLM_MODEL=from-local-file\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))

    settings = load_settings()

    assert settings.llm_model == "from-credential"
    assert settings.env_file == credential


def test_without_the_credential_the_local_file_is_used(tmp_path, workdir, monkeypatch):
    (tmp_path / "credentials").mkdir()
    write_env(workdir / ".env", "LLM_MODEL=from-local-file\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))

    assert load_settings().llm_model == "from-local-file"


def test_systemd_state_and_logs_directories_are_honoured(tmp_path, monkeypatch):
    state, logs = tmp_path / "lib" / "agent", tmp_path / "log" / "agent"
    # systemd joins several directories with ':'; the first one is the agent's own.
    monkeypatch.setenv("STATE_DIRECTORY", f"{state}:{tmp_path / 'other'}")
    monkeypatch.setenv("LOGS_DIRECTORY", str(logs))

    settings = load_settings()

    assert settings.state_dir == state.resolve()
    assert settings.log_file == logs / settings_module.LOG_FILE_NAME
    assert settings.log_file.name == "agent.log"


def test_an_explicit_state_dir_wins_over_systemds(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "systemd-state"))

    settings = load_settings(state_dir=str(tmp_path / "mine"))

    assert settings.state_dir == (tmp_path / "mine").resolve()


@pytest.mark.parametrize(
    "name", ["x; rm -rf /", "$(reboot)", "`id`", "nginx service", "../../etc/passwd", "a|b"]
)
def test_a_hostile_health_service_name_is_refused(workdir, name):
    write_env(workdir / ".env", f"HEALTH_SERVICES=nginx.service,{name}\n")

    with pytest.raises(SettingsError, match="HEALTH_SERVICES") as caught:
        load_settings()

    assert repr(name.strip()) in str(caught.value)


def test_unknown_keys_are_warned_about_not_fatal(workdir, caplog):
    write_env(workdir / ".env", "LLM_MODEL=known\nLLM_API_KEYY=typo-value-123456\n")

    with caplog.at_level(logging.WARNING, logger=settings_module.__name__):
        settings = load_settings()

    assert settings.llm_model == "known"
    assert "LLM_API_KEYY" in caplog.text
    assert "typo-value-123456" not in caplog.text


def one_line(excluded: str) -> st.SearchStrategy[str]:
    """Return text on one line (no controls, separators or surrogates) without excluded."""
    characters = st.characters(
        exclude_categories=("Cc", "Zl", "Zp", "Cs"), exclude_characters=excluded
    )
    return st.text(characters, max_size=20)


# Values as each quote style allows them on one line: unquoted without quotes, # or backslashes;
# quoted without that quote or a backslash.
VALUES = st.one_of(
    one_line("\"'#\\").map(str.strip),
    one_line('"\\').map(lambda value: f'"{value}"'),
    one_line("'\\").map(lambda value: f"'{value}'"),
)
KEYS = st.sampled_from(["LLM_MODEL", "LLM_API_KEY", "TELEGRAM_CHAT_ID", "X_1", "_Y"])


# The file is rewritten for every example: the folder need not be fresh.
@hypothesis.settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(KEYS, VALUES), max_size=8), st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_a_file_of_balanced_lines_reads_as_python_dotenv_reads_it(tmp_path, lines, newline):
    text = "".join(f"{key}={value}{newline}" for key, value in lines)
    path = tmp_path / "balanced.env"
    path.write_text(text, encoding="utf-8", newline="")

    expected = dotenv_values(stream=io.StringIO(text), interpolate=False)
    assert settings_module.read_env_file(path) == {k: v or "" for k, v in expected.items()}


def settings_command(capsys, form: str) -> str:
    assert main(["settings", form]) == 0
    return capsys.readouterr().out


def test_the_committed_env_example_is_the_generated_one(capsys):
    committed = (PROJECT_DIR / ".env.example").read_text(encoding="utf-8")

    assert settings_command(capsys, "example") == committed, (
        ".env.example differs from the declaration in security/settings_schema.py; "
        "fix: {{ cookiecutter.agent_slug }} settings example > .env.example"
    )


def test_the_env_example_loads_as_the_declared_defaults(workdir, capsys):
    write_env(workdir / ".env", settings_command(capsys, "example"))

    settings = load_settings()

    for setting in SETTINGS:
        expected = setting.default if setting.example is None else setting.parse(setting.example)
        assert getattr(settings, setting.attribute) == expected, setting.key


def test_the_settings_table_has_one_row_per_declared_key(capsys):
    rows = settings_command(capsys, "table").splitlines()[2:]

    assert [row.split("|")[1].strip(" `") for row in rows] == [s.key for s in SETTINGS]
    assert all(row.count(" | ") == 2 for row in rows)


def test_settings_has_one_attribute_per_declared_key_and_its_locations(tmp_path):
    names = list(settings_module.Settings.__slots__)

    assert names == ["state_dir", "env_file", *(setting.attribute for setting in SETTINGS)]
    settings = settings_module.Settings(state_dir=tmp_path)
    assert all(getattr(settings, s.attribute) == s.default for s in SETTINGS)
    with pytest.raises(AttributeError, match="read-only"):
        settings.llm_model = "another"
    with pytest.raises(TypeError, match="llm_modell"):
        settings_module.Settings(state_dir=tmp_path, llm_modell="typo")


def test_the_secrets_are_the_declared_ones_under_their_usual_names():
    assert SECRET_KEYS == ("LLM_API_KEY", "TELEGRAM_BOT_TOKEN")
    assert settings_module.SECRET_KEYS == SECRET_KEYS


@pytest.mark.parametrize("setting", NUMBERS, ids=lambda setting: setting.key)
def test_a_number_at_its_lower_bound_is_accepted_and_below_it_refused(workdir, setting):
    bound = setting.minimum
    write_env(workdir / ".env", f"{setting.key}={bound:g}\n")
    assert getattr(load_settings(), setting.attribute) == bound

    below = bound - 1 if setting.kind == WHOLE else bound - 0.001
    write_env(workdir / ".env", f"{setting.key}={below:g}\n")
    with pytest.raises(SettingsError, match=f"^{setting.key}=.* must be at least") as caught:
        load_settings()
    assert "fix it in .env" in str(caught.value)


@pytest.mark.parametrize("setting", NUMBERS, ids=lambda setting: setting.key)
def test_a_blank_number_takes_its_default(workdir, setting):
    write_env(workdir / ".env", f"{setting.key}=  \n")

    assert getattr(load_settings(), setting.attribute) == setting.default


@pytest.mark.parametrize("raw", ["abc-Secret-Value", "-5"])
def test_a_bad_secret_value_is_named_by_its_key_alone(raw):
    setting = Setting("SOME_TOKEN", WHOLE, 1, "A token.", minimum=1, secret=True)

    with pytest.raises(SettingsError, match=r"^SOME_TOKEN ") as caught:
        setting.parse(raw)

    assert raw not in str(caught.value)
