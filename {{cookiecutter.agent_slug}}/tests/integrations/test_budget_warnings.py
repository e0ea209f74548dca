"""Budget warnings: BUDGET_WARNINGS percentages of the daily budget, each alerted once per UTC day
through the agent's notifications (here the Telegram stand-in), kept across restarts."""

from datetime import datetime, timedelta

import pytest

import stubs
from {{ cookiecutter.package_name }}.contract.times import today_utc
from {{ cookiecutter.package_name }}.observability import costs
from {{ cookiecutter.package_name }}.runtime import gateway
from {{ cookiecutter.package_name }}.runtime.gateway import BudgetReached
from {{ cookiecutter.package_name }}.security.settings_schema import SettingsError

pytest.importorskip("{{ cookiecutter.package_name }}.integrations.telegram")
# The warnings are the gateway's, whatever the provider; here the Claude stand-in bills the calls.
pytest.importorskip("{{ cookiecutter.package_name }}.integrations.llm.anthropic")

CLAUDE = "claude-sonnet-4-5"  # $3 per million input tokens (up to 200,000)
# With a budget of $0.30, every 1,000 input tokens are 1 % of it.
TOKENS_PER_PERCENT = 1_000


@pytest.fixture
def start_agent(home, llm_stub, telegram_stub):
    """Start the agent of `home` (again: a restart keeps its state) with Claude and Telegram."""
    agents = []
    home.write_env(
        LLM_PROVIDER="anthropic",
        LLM_MODEL=CLAUDE,
        LLM_BASE_URL=llm_stub.anthropic_base,
        LLM_API_KEY=stubs.LLM_API_KEY,
        HTTP_TIMEOUT_SECONDS="2",
        DAILY_BUDGET_USD="0.3",
        TELEGRAM_BOT_TOKEN=stubs.TELEGRAM_TOKEN,
        TELEGRAM_CHAT_ID=stubs.TELEGRAM_CHAT_ID,
        TELEGRAM_API_BASE=telegram_stub.api_base,
    )

    def start():
        for agent in agents:
            agent.close()
        agent = home.agent()
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.close()  # closing twice is harmless


class Tomorrow(datetime):
    """The clock of the cost records, a day ahead."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(days=1)


def spend(agent, llm_stub, percent: int) -> None:
    """Make one LLM call billed at `percent` % of the $0.30 budget."""
    llm_stub.push(
        stubs.reply('{"a": 1}', input_tokens=percent * TOKENS_PER_PERCENT, output_tokens=0)
    )
    agent.gateway.ask("s", "text", purpose="extract", max_tokens=5, item_id="item-1")


def budget_texts(telegram_stub) -> list[str]:
    return [text for text in telegram_stub.texts if "budget" in text]


def test_50_80_and_100_percent_are_three_messages_and_a_restart_repeats_none(
    start_agent, llm_stub, telegram_stub
):
    agent = start_agent()
    spend(agent, llm_stub, 30)
    assert budget_texts(telegram_stub) == []
    spend(agent, llm_stub, 25)  # 55 %
    spend(agent, llm_stub, 10)  # 65 %: still the 50 % warning's band
    assert len(budget_texts(telegram_stub)) == 1
    assert "50% of the daily LLM budget spent ($0.1650 of $0.30)" in telegram_stub.texts[0]

    agent = start_agent()  # restarted between two warnings
    spend(agent, llm_stub, 20)  # 85 %
    spend(agent, llm_stub, 5)  # 90 %
    agent = start_agent()
    spend(agent, llm_stub, 15)  # 105 %: the budget is reached

    texts = budget_texts(telegram_stub)
    assert len(texts) == 3
    assert "80% of the daily LLM budget spent ($0.2550 of $0.30)" in texts[1]
    assert "daily LLM budget reached ($0.3150 of $0.30)" in texts[2]

    agent = start_agent()
    with pytest.raises(BudgetReached):
        spend(agent, llm_stub, 1)
    assert len(budget_texts(telegram_stub)) == 3
    assert len(llm_stub.requests) == 6


def test_the_next_day_warns_again(start_agent, llm_stub, telegram_stub, monkeypatch):
    agent = start_agent()
    spend(agent, llm_stub, 85)
    assert len(budget_texts(telegram_stub)) == 1

    tomorrow = today_utc() + timedelta(days=1)
    monkeypatch.setattr(gateway, "today_utc", lambda: tomorrow)
    monkeypatch.setattr(costs, "today_utc", lambda: tomorrow)
    monkeypatch.setattr(costs, "datetime", Tomorrow)  # the records are written to its file
    agent = start_agent()
    spend(agent, llm_stub, 55)

    texts = budget_texts(telegram_stub)
    assert len(texts) == 2
    assert "50% of the daily LLM budget spent ($0.1650 of $0.30)" in texts[1]


def test_a_call_past_several_percentages_sends_the_highest_only(
    start_agent, llm_stub, telegram_stub
):
    agent = start_agent()
    spend(agent, llm_stub, 82)
    spend(agent, llm_stub, 1)

    assert [text.split(": ", 1)[1][:4] for text in budget_texts(telegram_stub)] == ["80% "]


def test_the_percentages_are_a_setting(start_agent, home, llm_stub, telegram_stub):
    home.write_env(BUDGET_WARNINGS="25, 90,25")
    assert home.settings().budget_warnings == (25, 90)
    agent = start_agent()
    spend(agent, llm_stub, 30)
    spend(agent, llm_stub, 30)
    spend(agent, llm_stub, 31)

    texts = budget_texts(telegram_stub)
    assert len(texts) == 2
    assert "25% of the daily LLM budget" in texts[0]
    assert "90% of the daily LLM budget" in texts[1]


@pytest.mark.parametrize("value", ["50,eighty", "0,50", "50,101", "50,,80", "12.5"])
def test_a_percentage_out_of_range_is_one_clear_error(home, value):
    home.write_env(BUDGET_WARNINGS=value)

    with pytest.raises(SettingsError, match=r"BUDGET_WARNINGS=.*from 1 to 100.*e\.g\. 50,80,100"):
        home.settings()
