"""The LLM gateway: every call within the daily budget, every billed call costed and audited."""

import functools
import time
from datetime import UTC, datetime

from .. import AGENT_SLUG
from ..contract.times import today_utc
from ..integrations.llm import make_provider
from ..integrations.llm.base import LLMError
from ..reliability.http import PermanentError, TransientError


class BudgetReached(Exception):
    """Today's LLM spend reached the daily budget; items wait for tomorrow."""


class Gateway:
    """One agent's LLM calls; the provider is made on first use (start() makes it, loudly)."""

    def __init__(self, agent):
        self.agent = agent
        self.settings = agent.settings
        self._provider = None

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
        spent = self.agent.ledger.spent_today()
        reached = spent >= self.settings.daily_budget_usd
        if reached:
            self.agent.alert(
                f"budget:{today_utc().isoformat()}",
                f"{AGENT_SLUG}: daily LLM budget reached (${spent:.4f} of "
                f"${self.settings.daily_budget_usd:.2f}); documents wait until "
                "tomorrow (UTC) or a higher DAILY_BUDGET_USD.",
            )
        return reached

    def reads(self, media_type: str) -> bool:
        """Whether the provider reads attachments of this media type (none does yet)."""
        return media_type in getattr(self.provider(), "media_types", ())

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
        unread = [a.media_type for a in attachments if not self.reads(a.media_type)]
        if unread:
            raise PermanentError(
                f"LLM_PROVIDER={self.settings.llm_provider} does not read {', '.join(unread)}"
            )
        if self.budget_reached():
            raise BudgetReached
        agent, provider, model = self.agent, self.provider(), self.settings.llm_model
        # Every billed call is recorded, a failed one too when the provider says it was billed.
        record = functools.partial(
            agent.ledger.record,
            provider=provider.name,
            model=model,
            purpose=purpose,
            item_id=item_id,
            api_url=provider.url,
        )
        started = time.monotonic()
        try:
            reply = provider.complete(
                system=system, prompt=prompt, model=model, max_tokens=max_tokens
            )
        except LLMError as error:
            latency = (time.monotonic() - started) * 1000
            if error.usage is not None:
                record(usage=error.usage, latency_ms=latency, status="error")
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
        if cost is None:
            agent.alert(
                f"unknown_price:{model}",
                f"{AGENT_SLUG}: no price known for model {model}; its costs are "
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
