"""The whole flow with a real agent: a review decided on the phone continues the item.

One agent is baked with the default answers and runs as a laptop would run it (its `run` loop,
the only writer of its state); the bot (`agentctl bot --once`) sends the review, a press hands
the decision to the agent's spool, the agent applies it with the code of `review resolve`, and
the bot edits the message with the outcome.
"""

import json
import os
import subprocess
import sys
import time

import pytest
from agentctl_stubs import BOT_TOKEN, Host
from bot_phone import DOCTOR, GROUP, Phone, write_bot_config
from test_cookiecutter_generation import (
    bake,
    cookiecutter_config,  # noqa: F401 (a fixture, used by name)
    laptop_environment,
)

SLUG, PACKAGE = "document-intake-agent", "document_intake_agent"
AMBIGUOUS = "Patient: Marie Martin\nReference: phone\n"  # two people of the samples fit
WAIT_SECONDS = 60


@pytest.fixture
def phone():
    phone = Phone()
    yield phone
    phone.stop()


def agent_command(env_file, state) -> list[str]:
    return [sys.executable, "-m", PACKAGE, "--env-file", str(env_file), "--state-dir", str(state)]


def test_a_press_on_the_phone_decides_the_review_in_the_running_agent(
    tmp_path, phone, request, monkeypatch
):
    project = bake(tmp_path / "out", request.getfixturevalue("cookiecutter_config")).project
    host = Host(tmp_path / "host", telegram_api_base=phone.url, telegram_max_wait_seconds=5)
    state = host.state_root / SLUG
    env_file = tmp_path / "agent.env"
    env_file.write_text(
        "LLM_PROVIDER=fake\nLLM_MODEL=fake-extractor-1\nDAILY_BUDGET_USD=5\n"
        f"PEOPLE_CSV={project / 'samples' / 'people.csv'}\nPOLL_INTERVAL_SECONDS=0.2\n"
    )
    env_file.chmod(0o600)
    environment = laptop_environment(project)
    command = agent_command(env_file, state)
    incoming = state / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "lab.txt").write_text(AMBIGUOUS)
    past = time.time() - 30
    os.utime(incoming / "lab.txt", (past, past))
    once = subprocess.run(
        [*command, "once"], env=environment, capture_output=True, text=True, timeout=120
    )
    assert once.returncode == 0, once.stderr
    assert [p.name for p in (state / "review").iterdir() if not p.name.endswith(".json")] == [
        "lab.txt"
    ]

    token_file = tmp_path / "token"
    token_file.write_text(BOT_TOKEN)
    bot_config = write_bot_config(
        tmp_path / "bot.conf", tmp_path / "bot.json", token_file, decision_wait_seconds=WAIT_SECONDS
    )
    monkeypatch.setenv("PILLARS_BOT_CONFIG", str(bot_config))
    phone.say("/review", DOCTOR, chat_id=GROUP)
    assert host.run("bot", "--once").returncode == 0
    (message,) = phone.messages
    assert "M. M." in message["text"] and "Marie" not in message["text"]
    labels = phone.buttons(message)
    assert len(labels) == 3
    chosen_label, chosen = labels[1]
    chosen_id = int(chosen_label.split("#")[1].split()[0])

    agent = subprocess.Popen(
        [*command, "run"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        phone.press(message["message_id"], chosen, DOCTOR, username="dr_house")
        result = host.run("bot", "--once")
        assert result.returncode == 0, result.stderr
        phone.press(message["message_id"], labels[0][1], DOCTOR, username="dr_house")
        assert host.run("bot", "--once").returncode == 0
    finally:
        agent.terminate()
        agent.wait(WAIT_SECONDS)

    first, second = phone.answers
    assert first["text"] == "Done: candidate [2] chosen by @dr_house."
    assert second["text"].startswith("Already decided here")
    edited = phone.messages[0]
    assert "✅ Done: candidate [2] chosen by @dr_house." in edited["text"]
    assert edited["reply_markup"] == {"inline_keyboard": []}

    # The item continued with that person; the outbox and the audit log say who decided.
    assert [p.name for p in (state / "done").iterdir()] == ["lab.txt"]
    (result_file,) = (state / "outbox").iterdir()
    outcome = json.loads(result_file.read_text())
    assert outcome["person"]["id"] == chosen_id
    assert outcome["decided_by"] == {"telegram_user_id": DOCTOR, "username": "dr_house"}
    audit = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    (decision,) = [e for e in audit if e["action"] == "human.decision"]
    assert decision["detail"]["by"] == f"telegram:{DOCTOR} (@dr_house)"
    assert decision["detail"]["decided_by"]["telegram_user_id"] == DOCTOR
    assert list((state / "decisions").iterdir()) == []
