"""The LLM gateway: every call within the daily budget, every billed call costed and audited."""

import functools
import logging
import time
from datetime import UTC, datetime

from .. import AGENT_SLUG
from ..contract.times import today_utc
from ..integrations.llm import make_provider
from ..integrations.llm.base import LLMError, Usage
from ..observability.costs import usd
from ..reliability.http import PermanentError, TransientError
from .protocol import ItemFailed

logger = logging.getLogger(__name__)


class BudgetReached(Exception):
    """Today's LLM spend reached the daily budget; items wait for tomorrow."""


class Gateway:
    """One agent's LLM calls; the provider is made on first use (start() makes it, loudly)."""

    def __init__(self, agent):
        self.agent = agent
        self.settings = agent.settings
        self._provider = None
        # The UTC day a call was refused for its estimate: the documents wait until the next
        # day, as when the budget is reached, rather than being read again at every poll.
        self._refused_on = None

    def provider(self):
        if self._provider is None:
            self._provider = make_provider(
                self.settings.llm_provider,
                api_key=self.settings.llm_api_key,
                base_url=self.settings.llm_base_url,
                policy=self.agent.policy,
                on_wait=self.agent.systemd.watchdog,
            )
        return self._provider

    def budget_reached(self) -> bool:
        if self._refused_on is not None and self._refused_on == today_utc():
            return True
        spent = self.agent.ledger.spent_today()
        reached = spent >= self.settings.daily_budget_usd
        if reached:
            self.alert_reached(spent)
        return reached

    def alert_reached(self, spent: float) -> None:
        """The budget-reached alert: once per UTC day, the 100 of BUDGET_WARNINGS."""
        self.agent.alert(
            f"budget:{today_utc().isoformat()}",
            f"{AGENT_SLUG}: daily LLM budget reached (${spent:.4f} of "
            f"{usd(self.settings.daily_budget_usd)}); documents wait until "
            "tomorrow (UTC) or a higher DAILY_BUDGET_USD.",
        )

    def warn(self) -> None:
        """Alert the highest BUDGET_WARNINGS percentage today's spend reached, once per day.

        Called after every billed call. Each alert is an effect keyed by the day and the
        percentage, kept in the state database, so a restart does not send it again; a call
        that passes several percentages at once sends the highest only, and the lower ones are
        not sent later that day. At 100 it is the budget-reached alert.
        """
        spent, budget = self.agent.ledger.spent_today(), self.settings.daily_budget_usd
        if spent >= budget:
            self.alert_reached(spent)
            return
        # Below the budget: its 100 is the budget-reached alert, whatever the rounding says.
        reached = [
            level
            for level in self.settings.budget_warnings
            if level < 100 and spent * 100 >= level * budget
        ]
        if not reached:
            return
        level = max(reached)
        self.agent.alert(
            f"budget_warning:{today_utc().isoformat()}:{level}",
            f"{AGENT_SLUG}: {level}% of the daily LLM budget spent (${spent:.4f} of "
            f"{usd(budget)}); at the budget, documents wait until tomorrow (UTC) or a higher "
            "DAILY_BUDGET_USD.",
        )

    def media_types(self) -> frozenset[str]:
        """What the model reads besides text: the provider's media types, as LLM_VISION allows.

        auto: the providers whose models all read images (anthropic, openai at api.openai.com);
        on: any provider that can carry them (a local vision model gets page images); off: none.
        """
        provider = self.provider()
        vision = self.settings.llm_vision
        if vision == "off" or (
            vision == "auto" and not getattr(provider, "vision_by_default", False)
        ):
            return frozenset()
        return frozenset(getattr(provider, "media_types", ()))

    def reads(self, media_type: str) -> bool:
        """Whether the model reads attachments of this media type."""
        return media_type in self.media_types()

    def estimate(
        self, provider, system: str, prompt: str, model: str, max_tokens: int, attachments: tuple
    ) -> tuple[int, float | None]:
        """Return the input tokens a call will take and its cost at most (max_tokens answered),
        or None for the cost when the model's price is unknown."""
        tokens = provider.input_tokens(
            system=system, prompt=prompt, model=model, attachments=attachments
        )
        price = self.agent.ledger.prices.price(model, provider.url)
        if price is None:
            return tokens, None
        usage = Usage(input_tokens=tokens, output_tokens=max_tokens)
        return tokens, float(price.cost(usage).total_usd)

    def check_estimate(self, item_id: str | None, tokens: int, cost: float | None) -> None:
        """Refuse a call whose estimated cost would take today's spend past the budget."""
        if cost is None:
            logger.info("Estimated %d input tokens; the model's price is unknown", tokens)
            return
        spent, budget = self.agent.ledger.spent_today(), self.settings.daily_budget_usd
        if spent + cost <= budget:
            return
        self.agent.alert(
            f"budget:{today_utc().isoformat()}:{item_id}",
            f"{AGENT_SLUG}: item {item_id} waits: its LLM call is estimated at {tokens} input "
            f"tokens, ${cost:.4f} at most, and today's spend ${spent:.4f} would pass the daily "
            f"budget of {usd(budget)}; documents wait until tomorrow (UTC) or a higher "
            "DAILY_BUDGET_USD.",
        )
        self._refused_on = today_utc()
        raise BudgetReached

    def ask(
        self,
        system: str,
        prompt: str,
        *,
        purpose: str,
        max_tokens: int,
        item_id: str | None,
        attachments: tuple = (),
        read_via: str | None = None,
        pages: int | None = None,
    ) -> str:
        """Call the LLM within the budget, recording the cost of every billed call."""
        unread = sorted({a.media_type for a in attachments} - self.media_types())
        if unread:
            raise PermanentError(
                f"LLM_PROVIDER={self.settings.llm_provider} with "
                f"LLM_VISION={self.settings.llm_vision} does not read {', '.join(unread)}"
            )
        agent, provider, model = self.agent, self.provider(), self.settings.llm_model
        if not provider.in_process:
            # A call that goes out takes its time: the items decided before it in the batch
            # (runtime/items.py) are moved and delivered first, not after its answer. And it
            # spends on the spend so far: the record of the call before is made durable first
            # (an in-process call spends nothing; its record is synced before its input moves).
            agent.items.flush()
            agent.ledger.sync()
        if self.budget_reached():
            raise BudgetReached
        attachments = tuple(attachments)
        if attachments:
            try:
                attachments = provider.prepare(attachments)
            except LLMError as error:  # a limit of the API: this document can never be sent
                raise ItemFailed(str(error)) from None
            tokens, cost = self.estimate(provider, system, prompt, model, max_tokens, attachments)
            self.check_estimate(item_id, tokens, cost)
        # Every billed call is recorded, a failed one too when the provider says it was billed.
        record = functools.partial(
            agent.ledger.record,
            provider=provider.name,
            model=model,
            purpose=purpose,
            item_id=item_id,
            api_url=provider.url,
            pages=pages,
            images=sum(a.media_type.startswith("image/") for a in attachments)
            if attachments
            else None,
            read_via=read_via,
        )
        started = time.monotonic()
        try:
            reply = provider.complete(
                system=system,
                prompt=prompt,
                model=model,
                max_tokens=max_tokens,
                attachments=attachments,
            )
        except LLMError as error:
            latency = (time.monotonic() - started) * 1000
            if error.usage is not None:
                record(usage=error.usage, latency_ms=latency, status="error")
                self.warn()
            agent.audit.note(
                "llm.call", item_id, model=model, purpose=purpose, status="error", error=str(error)
            )
            if error.transient:
                raise TransientError(str(error)) from None
            raise PermanentError(str(error)) from None
        latency = (time.monotonic() - started) * 1000
        cost = record(
            usage=reply.usage, latency_ms=latency, status="ok", response_model=reply.model
        )["cost_usd"]
        agent.audit.note(
            "llm.call",
            item_id,
            model=reply.model,
            purpose=purpose,
            status="ok",
            input_tokens=reply.usage.input_tokens,
            output_tokens=reply.usage.output_tokens,
            cost_usd=cost,
        )
        self.warn()
        if cost is None:
            # The model priced is the one that answered: name it, and the one asked for if not it.
            asked = "" if reply.model == model else f" (answering for {model})"
            agent.alert(
                f"unknown_price:{reply.model}",
                f"{AGENT_SLUG}: no price known for model {reply.model}{asked}; its costs are "
                "recorded as null until it is added to the price table (PRICES_FILE).",
            )
        agent.heartbeat.data["last_llm_success"] = datetime.now(UTC).isoformat(timespec="seconds")
        return reply.text


class ItemContext:
    """What a job's process() gets for one item (runtime.protocol.Context)."""

    def __init__(self, agent, item_id: str):
        self.agent = agent
        self.db = agent.db
        self.item_id = item_id

    def ask(
        self,
        system: str,
        prompt: str,
        *,
        purpose: str,
        max_tokens: int,
        attachments: tuple = (),
        read_via: str | None = None,
        pages: int | None = None,
    ) -> str:
        with self.agent.clock.hold():
            return self.agent.gateway.ask(
                system,
                prompt,
                purpose=purpose,
                max_tokens=max_tokens,
                item_id=self.item_id,
                attachments=attachments,
                read_via=read_via,
                pages=pages,
            )

    def reads(self, media_type: str) -> bool:
        return self.agent.gateway.reads(media_type)
