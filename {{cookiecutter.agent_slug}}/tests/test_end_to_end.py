"""The whole agent, as a process, against real HTTP stand-ins for the LLM API and Telegram.

The stand-ins run on 127.0.0.1; the agent is the real command line with a real .env. Every secret
has a distinctive value, and none of them may appear in anything the agent writes.
"""

import importlib.util
import json

import pytest

import stubs
from {{ cookiecutter.package_name }}.integrations.llm import fake

PROVIDERS = [
    name
    for name, module in (("anthropic", "anthropic"), ("openai", "openai_compat"))
    if importlib.util.find_spec(f"{{ cookiecutter.package_name }}.integrations.llm.{module}")
]
HAS_TELEGRAM = bool(importlib.util.find_spec("{{ cookiecutter.package_name }}.integrations.telegram"))
SECRETS = (stubs.LLM_API_KEY, stubs.TELEGRAM_TOKEN)


def extracting(system: str, prompt: str) -> str:
    """Answer like a good LLM would: the fields of the document, as JSON."""
    return json.dumps(fake.extract_fields(fake.document_part(prompt)))


@pytest.fixture
def llm():
    with stubs.LLMStub(responder=extracting) as stub:
        yield stub


@pytest.fixture
def telegram():
    with stubs.TelegramStub() as stub:
        yield stub


def configure(home, provider: str, llm, telegram=None, **extra: str) -> None:
    base = llm.anthropic_base if provider == "anthropic" else llm.openai_base
    settings = {
        "LLM_PROVIDER": provider,
        "LLM_MODEL": "gpt-4o-mini" if provider == "openai" else "claude-sonnet-4-5-20250929",
        "LLM_BASE_URL": base,
        "LLM_API_KEY": stubs.LLM_API_KEY,
        "HTTP_TIMEOUT_SECONDS": "0.5",
        "HTTP_MAX_TOTAL_SECONDS": "10",
        "LOG_FILE": str(home.root / "agent.log"),
    }
    if telegram is not None:
        settings |= {
            "TELEGRAM_BOT_TOKEN": stubs.TELEGRAM_TOKEN,
            "TELEGRAM_CHAT_ID": stubs.TELEGRAM_CHAT_ID,
            "TELEGRAM_API_BASE": telegram.api_base,
        }
    home.write_env(**settings, **extra)


def everything_written(home, result) -> str:
    """Every byte the agent produced: output, log file, audit, costs, outbox, sidecars."""
    parts = [result.stdout, result.stderr]
    for path in [home.root / "agent.log", *home.state.rglob("*")]:
        if path.is_file() and path.suffix in (".json", ".jsonl", ".log", ".head"):
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def cost_records(home) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((home.state / "costs").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_samples_through_a_real_http_llm_with_rate_limits_and_errors(home, llm, provider):
    llm.push(stubs.status(429, retry_after=1), stubs.status(500), stubs.hang(2.0))
    configure(home, provider, llm)
    home.drop_samples()

    result = home.cli("once")
    assert result.returncode == 0, result.stderr
    assert home.files("done") == ["invoice-youssef-benali.pdf", "referral-jane-doe.txt"]
    assert home.files("review") == ["lab-result-marie-martin.md"]
    assert len(llm.requests) == 6  # 3 scripted failures retried, then one call per document
    records = cost_records(home)
    assert [r["status"] for r in records] == ["ok", "ok", "ok"]
    assert all(r["gen_ai.system"] == provider and r["cost_usd"] > 0 for r in records)
    assert all(r["gen_ai.usage.input_tokens"] > 0 for r in records)
    for secret in SECRETS:
        assert secret not in everything_written(home, result)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_result_is_out_before_the_next_document_s_call_goes_to_the_llm(home, provider):
    # Group commit batches the items decided back to back; a call over the network takes its
    # time, so the items decided before it are moved and delivered first.
    seen = []

    def watching(system: str, prompt: str) -> str:
        seen.append((len(home.files("done")), len(home.files("outbox"))))
        return extracting(system, prompt)

    people = ["Jane Doe", "Youssef Benali", "Chidi Okafor"]
    with stubs.LLMStub(responder=watching) as llm:
        configure(home, provider, llm)
        for number, person in enumerate(people):
            text = f"Patient: {person}\nDocument type: note\n"
            home.drop(f"doc-{number}.txt", text, age=30 - number)
        result = home.cli("once")

    assert result.returncode == 0, result.stderr
    assert home.files("done") == ["doc-0.txt", "doc-1.txt", "doc-2.txt"]
    assert seen == [(0, 0), (1, 1), (2, 2)]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_llm_that_stays_down_leaves_the_item_waiting_not_lost(home, llm, provider):
    llm.push(*[stubs.status(503)] * 20)
    configure(home, provider, llm, HTTP_MAX_ATTEMPTS="2")
    home.drop("jane.txt", "Patient: Jane Doe\n")

    result = home.cli("once")
    assert result.returncode == 0, result.stderr
    assert home.files("incoming") == ["jane.txt"]
    assert cost_records(home) == []  # an unbilled failure costs nothing


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_answers_are_retried_as_whole_items(home, llm, provider):
    llm.push(stubs.malformed(), stubs.reply("this is not JSON at all"))
    configure(home, provider, llm)
    home.drop("jane.txt", "Patient: Jane Doe\n")

    home.cli("once")
    assert home.files("incoming") == ["jane.txt"]  # a malformed body: retried within the call
    for _ in range(2):
        home.cli("once")
    assert home.files("done") == ["jane.txt"]
    assert [r["status"] for r in cost_records(home)] == ["ok", "ok"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_api_key_is_not_retried_and_keeps_the_document(home, llm, provider):
    configure(home, provider, llm)
    home.write_env(LLM_API_KEY="sk-wrong-key-000000000000")
    home.drop("jane.txt", "Patient: Jane Doe\n")

    result = home.cli("once")
    assert result.returncode == 0, result.stderr
    assert len(llm.requests) == 1
    assert home.files("incoming") == ["jane.txt"]
    assert "LLM_API_KEY" in result.stdout


@pytest.mark.skipif(not HAS_TELEGRAM, reason="this agent was generated without Telegram")
def test_notifications_reach_telegram_despite_flood_control(home, llm, telegram):
    telegram.push(stubs.telegram_429(1))
    configure(home, PROVIDERS[0], llm, telegram)
    home.drop_samples()

    result = home.cli("once")
    assert result.returncode == 0, result.stderr
    texts = telegram.texts
    assert len(texts) == 3
    assert sum("needs a human decision" in text for text in texts) == 1
    assert any("Jane Doe" in text for text in texts)
    for secret in SECRETS:
        assert secret not in everything_written(home, result)


@pytest.mark.skipif(not HAS_TELEGRAM, reason="this agent was generated without Telegram")
def test_telegram_down_loses_no_document(home, llm, telegram):
    configure(home, PROVIDERS[0], llm, telegram)
    telegram.stop()
    home.drop("jane.txt", "Patient: Jane Doe\n")

    result = home.cli("once")
    assert result.returncode == 0, result.stderr
    assert home.files("done") == ["jane.txt"]
    assert len(list((home.state / "outbox").iterdir())) == 1
    audit = (home.state / "audit.jsonl").read_text()
    assert "notification.failed" in audit
    assert stubs.TELEGRAM_TOKEN not in everything_written(home, result)
