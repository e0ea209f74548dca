"""JSON-lines logging: one object per line, secrets redacted everywhere, rotation loses nothing."""

import json
import logging
import threading
from datetime import datetime
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.observability import logs

KNOWN_SECRET = "hunter2-Known-Secret-Value"
BOT_TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"
SHORT_BOT_TOKEN = "987654:short-token"
BEARER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.payload.signature"
API_KEY_HEADER_VALUE = "x-key-VALUE-0123456789"
SK_KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"
EXCEPTION_SECRET = "exc-Secret-In-Exception-42"
LEAKS = (
    KNOWN_SECRET,
    BOT_TOKEN,
    "ABCdefGHIjklMNOpqrSTUvwxYZ",
    SHORT_BOT_TOKEN,
    BEARER_TOKEN,
    API_KEY_HEADER_VALUE,
    SK_KEY,
    EXCEPTION_SECRET,
)
ROTATION_LINES_BEFORE = 300
ROTATION_LINES_AFTER = 300
LINES_BEFORE_RENAME = 200
LINES_AFTER_RENAME = 200


@pytest.fixture(autouse=True)
def restore_logging():
    """Give the root logger, the noisy loggers and warning capture back as they were."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_noisy = {name: logging.getLogger(name).level for name in logs.NOISY_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in saved_handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(saved_level)
    for name, level in saved_noisy.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def flush_handlers() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def json_lines(text: str) -> list[dict]:
    """Parse text as JSON lines, failing on any line that is not one JSON object."""
    entries = []
    for line in text.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


def test_every_line_is_one_json_object_with_the_standard_fields(capsys):
    logs.configure_logging("DEBUG")
    logger = logging.getLogger("agent.test")

    logger.info("plain message %s", 42)
    logger.warning("two\nlines in one message", extra={"item_id": "abc", "path": Path("/x/y")})
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("it failed")

    out = capsys.readouterr().out
    entries = json_lines(out)
    assert len(entries) == len(out.splitlines()) == 3
    for entry in entries:
        assert {"ts", "level", "logger", "msg"} <= entry.keys()
        assert entry["logger"] == "agent.test"
        assert datetime.fromisoformat(entry["ts"]).utcoffset().total_seconds() == 0
    assert [e["level"] for e in entries] == ["INFO", "WARNING", "ERROR"]
    assert entries[0]["msg"] == "plain message 42"
    assert entries[1]["msg"] == "two\nlines in one message"
    assert entries[1]["item_id"] == "abc"
    assert entries[1]["path"] == "/x/y"
    assert entries[2]["msg"] == "it failed"
    assert "ValueError: bad value" in entries[2]["exc"]
    # Internal LogRecord attributes are not dumped into the line.
    assert not {"args", "levelno", "pathname", "exc_info"} & entries[0].keys()


def test_level_filters_lines(capsys):
    logs.configure_logging("WARNING")
    logger = logging.getLogger("agent.test")

    logger.info("hidden")
    logger.warning("shown")

    assert [e["msg"] for e in json_lines(capsys.readouterr().out)] == ["shown"]


def log_every_kind_of_secret(logger: logging.Logger) -> None:
    logger.info("api key is %s", KNOWN_SECRET)
    logger.info("POST https://api.telegram.org/bot%s/sendMessage failed", BOT_TOKEN)
    logger.info("GET https://api.telegram.org/bot%s/getMe", SHORT_BOT_TOKEN)
    logger.info("token alone: %s", BOT_TOKEN)
    logger.info("request headers: Authorization: Bearer %s", BEARER_TOKEN)
    logger.info("request headers %s", {"Authorization": f"Bearer {BEARER_TOKEN}"})
    logger.info("request headers %s", {"x-api-key": API_KEY_HEADER_VALUE})
    logger.info("x-api-key: %s", API_KEY_HEADER_VALUE)
    logger.info("configured key %s for anthropic", SK_KEY)
    logger.info("sent", extra={"headers": {"Authorization": f"Bearer {BEARER_TOKEN}"}})
    try:
        raise RuntimeError(f"upstream refused key {EXCEPTION_SECRET} and {KNOWN_SECRET}")
    except RuntimeError:
        logger.exception("call failed")


def test_secrets_never_reach_stdout_or_the_log_file(capsys, tmp_path):
    log_file = tmp_path / "logs" / "agent.log"
    logs.configure_logging("DEBUG", log_file=log_file, secrets=(KNOWN_SECRET, EXCEPTION_SECRET, ""))

    log_every_kind_of_secret(logging.getLogger("agent.test"))
    flush_handlers()

    out = capsys.readouterr().out
    written = log_file.read_text(encoding="utf-8")
    for text in (out, written):
        entries = json_lines(text)
        assert len(entries) == 11
        for secret in LEAKS:
            assert secret not in text
        assert logs.REDACTED in text
    # Redaction keeps what an operator needs to read the line.
    assert "https://api.telegram.org/bot[REDACTED]/sendMessage" in out
    assert "call failed" in out
    assert "RuntimeError: upstream refused key [REDACTED]" in out


def test_json_encoded_headers_in_a_message_are_redacted(capsys):
    """A header dict logged as JSON text (json.dumps, an HTTP body echo) must not leak."""
    logs.configure_logging("DEBUG")
    logger = logging.getLogger("agent.test")

    logger.info("request headers %s", json.dumps({"Authorization": f"Bearer {BEARER_TOKEN}"}))
    logger.info("request headers %s", json.dumps({"x-api-key": API_KEY_HEADER_VALUE}))

    out = capsys.readouterr().out
    assert BEARER_TOKEN not in out
    assert API_KEY_HEADER_VALUE not in out


def test_the_returned_redactor_cleans_text_for_other_outputs():
    redactor = logs.configure_logging("INFO", secrets=(KNOWN_SECRET,))

    cleaned = redactor(f"alert: {KNOWN_SECRET} via /bot{BOT_TOKEN}/sendMessage")

    assert KNOWN_SECRET not in cleaned
    assert BOT_TOKEN not in cleaned
    assert cleaned == "alert: [REDACTED] via /bot[REDACTED]/sendMessage"


def test_noisy_http_loggers_are_quieted_to_warning(capsys):
    logs.configure_logging("DEBUG")

    for name in logs.NOISY_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTPS connection")
    logging.getLogger("urllib3.connectionpool").info("Resetting dropped connection")
    logging.getLogger("urllib3.connectionpool").warning("Retrying after broken connection")
    logging.getLogger("agent.test").debug("own debug line")

    messages = [e["msg"] for e in json_lines(capsys.readouterr().out)]
    assert messages == ["Retrying after broken connection", "own debug line"]


def test_configuring_twice_does_not_duplicate_lines(capsys):
    logs.configure_logging("INFO")
    logs.configure_logging("INFO")

    logging.getLogger("agent.test").info("once")

    assert len(capsys.readouterr().out.splitlines()) == 1


def numbers_in(*paths: Path) -> list[int]:
    numbers = []
    for path in paths:
        numbers.extend(int(e["msg"]) for e in json_lines(path.read_text(encoding="utf-8")))
    return numbers


def test_rotation_by_rename_loses_no_line(tmp_path, capsys):
    log_file = tmp_path / "agent.log"
    rotated = tmp_path / "agent.log.1"
    logs.configure_logging("INFO", log_file=log_file)
    logger = logging.getLogger("agent.test")

    for number in range(ROTATION_LINES_BEFORE):
        logger.info("%d", number)
    log_file.rename(rotated)  # what logrotate does without copytruncate
    for number in range(ROTATION_LINES_BEFORE, ROTATION_LINES_BEFORE + ROTATION_LINES_AFTER):
        logger.info("%d", number)
    flush_handlers()
    capsys.readouterr()

    assert numbers_in(rotated) == list(range(ROTATION_LINES_BEFORE))
    assert numbers_in(log_file) == list(
        range(ROTATION_LINES_BEFORE, ROTATION_LINES_BEFORE + ROTATION_LINES_AFTER)
    )


def test_rotation_while_logging_keeps_every_line_exactly_once(tmp_path, capsys):
    log_file = tmp_path / "agent.log"
    rotated = tmp_path / "agent.log.1"
    logs.configure_logging("INFO", log_file=log_file)
    logger = logging.getLogger("agent.test")
    writing, renamed = threading.Event(), threading.Event()
    written = []

    def write_lines():
        # Keep writing until well after the rename, so the rename lands mid-stream.
        number, stop_at = 0, None
        while stop_at is None or number < stop_at:
            logger.info("%d", number)
            number += 1
            if number == LINES_BEFORE_RENAME:
                writing.set()
            if stop_at is None and renamed.is_set():
                stop_at = number + LINES_AFTER_RENAME
        written.append(number)

    writer = threading.Thread(target=write_lines)
    writer.start()
    assert writing.wait(timeout=10)
    log_file.rename(rotated)
    renamed.set()
    writer.join(timeout=10)
    flush_handlers()
    capsys.readouterr()

    before, after = numbers_in(rotated), numbers_in(log_file)
    assert len(after) >= LINES_AFTER_RENAME
    assert sorted(before + after) == list(range(written[0]))
    # Everything in the rotated file was logged before every line of the new file.
    assert max(before) < min(after)
