"""The .env format: what the agent role writes, python-dotenv and the contract read alike."""

import io
from decimal import Decimal

import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.contract.envfile import (
    EnvFormatError,
    format_env,
    format_line,
    parse_env,
    read_env_file,
)

# What the role writes (roles/agent/tasks/assert.yml, templates/env.j2): keys ^[A-Z_][A-Z0-9_]*$,
# values that are strings without CR, LF or NUL (YAML holds no lone surrogate), or numbers.
KEYS = st.from_regex(r"[A-Z_][A-Z0-9_]{0,30}", fullmatch=True)
TEXT_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00")
)
NUMBER_VALUES = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
ROLE_VALUES = TEXT_VALUES | NUMBER_VALUES
HEADER = ("Ansible managed", "Settings and secrets of agent intake-bot: root-only.")


def dotenv_reads(text: str) -> dict:
    return dict(dotenv_values(stream=io.StringIO(text), interpolate=False))


@given(st.dictionaries(KEYS, ROLE_VALUES, max_size=8))
def test_every_value_the_role_can_write_reads_back_the_same_both_ways(values):
    text = format_env(values, HEADER)

    expected = {key: str(value) for key, value in values.items()}
    assert parse_env(text) == expected
    assert dotenv_reads(text) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        " leading and trailing ",
        "a#b",
        "a #not a comment",
        "# all comment",
        "$HOME ${HOME} $(id)",
        "it's",
        "back\\slash\\",
        "\\'",
        '"double"',
        "tab\there",
        "ünïcödé 名前 🙂",
        "=equals=",
        "export X=1",
    ],
)
def test_awkward_values_survive_a_round_trip(value):
    text = format_line("KEY", value) + "\n"

    assert parse_env(text) == {"KEY": value}
    assert dotenv_reads(text) == {"KEY": value}


def test_the_writer_writes_what_the_role_template_writes():
    # env.j2 writes the value as a string, backslashes doubled, then apostrophes escaped.
    assert format_line("A", "it's a\\b") == "A='it\\'s a\\\\b'"
    assert format_line("N", 5) == "N='5'"
    assert format_line("F", 0.5) == "F='0.5'"
    assert format_line("D", Decimal("2.50")) == "D='2.50'"


def test_the_writer_sorts_keys_as_jinja_dictsort_does():
    text = format_env({"b_key": "1", "A_KEY": "2", "C": "3"}, ["header"])

    assert text.splitlines() == ["# header", "A_KEY='2'", "b_key='1'", "C='3'"]


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("KEY", "two\nlines", "one line"),
        ("KEY", "carriage\rreturn", "one line"),
        ("KEY", "nul\x00", "one line"),
        ("KEY", True, "string or a number"),
        ("KEY", None, "string or a number"),
        ("KEY", ["a"], "string or a number"),
        ("1KEY", "x", "cannot be a .env key"),
        ("KEY-NAME", "x", "cannot be a .env key"),
    ],
)
def test_the_writer_refuses_what_no_line_can_hold(key, value, problem):
    with pytest.raises(EnvFormatError, match=problem):
        format_line(key, value)


@pytest.mark.parametrize(
    "text",
    [
        "KEY=plain value\n",
        "KEY=value # a comment\n",
        "KEY=value#kept\n",
        "KEY= # only a comment\n",
        "KEY=\n",
        "  export KEY = 'quoted'  # comment\n",
        'KEY="double \\"quoted\\" \\n with escapes"\n',
        "KEY='single' # comment\n",
        "# a comment\n\n   \nKEY=1\r\nOTHER=2\rLAST=3",
        "\ufeffKEY=with a byte order mark\n",
        "KEY=1\nKEY=2\n",
        "export=1\n",
        "KEY='a'#c\n",
    ],
)
def test_the_reader_reads_what_python_dotenv_reads(text):
    assert parse_env(text) == dotenv_reads(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("JUST_A_WORD\n", "line 1: expected KEY=value"),
        ("A=1\nnot a setting at all\n", "line 2: expected KEY=value"),
        ("9KEY=1\n", "line 1: expected KEY=value"),
        ("KEY='never closed\nOTHER=1\n", "line 1: the ' that opens the value of KEY is not closed"),
        ('KEY="never closed\n', 'line 1: the " that opens the value of KEY is not closed'),
        ("KEY='closed' trailing\n", "line 1: the value of KEY has text after its closing quote"),
    ],
)
def test_the_reader_refuses_what_python_dotenv_would_skip_or_read_past(text, message):
    with pytest.raises(EnvFormatError, match=message) as caught:
        parse_env(text)

    assert "never closed" not in str(caught.value)  # a value is never shown: it may be a secret


def test_a_file_is_read_with_its_name_in_every_problem(tmp_path):
    path = tmp_path / ".env"
    path.write_text(format_env({"TELEGRAM_BOT_TOKEN": "123:abc", "POLL": 5}), encoding="utf-8")
    assert read_env_file(path) == {"POLL": "5", "TELEGRAM_BOT_TOKEN": "123:abc"}

    path.write_bytes(b"KEY=\xff\n")
    with pytest.raises(EnvFormatError, match=rf"^{path} is not UTF-8 text; fix: save it as UTF-8$"):
        read_env_file(path)

    path.write_text("oops\n", encoding="utf-8")
    with pytest.raises(EnvFormatError, match=rf"^{path} line 1: expected KEY=value"):
        read_env_file(path)

    with pytest.raises(EnvFormatError, match=r"cannot read .*missing"):
        read_env_file(tmp_path / "missing")
