"""The agent: the loop that carries each item through job.py with the four pillars around it."""

import hashlib
import json
import logging
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from . import AGENT_SLUG, __version__, job
from .deployment.heartbeat import Heartbeat
from .deployment.systemd import Notifier
from .integrations.llm import make_provider
from .integrations.llm.base import LLMError
from .integrations.notify import make_notifier
from .observability.audit import AuditLog
from .observability.costs import CostLedger, PriceTable, today_utc
from .reliability.files import atomic_write_json
from .reliability.http import PermanentError, RetryPolicy, TransientError
from .reliability.inbox import Inbox, read_regular_file
from .security.db import Database

logger = logging.getLogger(__name__)

ITEM_ID_CHARS = 16
ALERTS_FILE = "alerts.json"
TERMINAL = {"done": "done", "review": "review", "failed": "failed"}


class BudgetReached(Exception):
    """Today's LLM spend reached the daily budget; items wait for tomorrow."""


class Context:
    """What job.process gets for one item: the database and a costed, budgeted LLM call."""

    def __init__(self, agent: "Agent", item_id: str):
        self.agent = agent
        self.db = agent.db
        self.item_id = item_id

    def ask(self, system: str, prompt: str, *, purpose: str, max_tokens: int) -> str:
        return self.agent.ask(
            system, prompt, purpose=purpose, max_tokens=max_tokens, item_id=self.item_id
        )


class Agent:
    """One agent's state directory, pillars and loop."""

    def __init__(self, settings):
        self.settings = settings
        self.inbox = Inbox(settings.state_dir)
        self.db = Database(settings.state_dir / "agent.db")
        self.audit = AuditLog(settings.state_dir / "audit.jsonl")
        self.ledger = CostLedger(
            settings.state_dir / "costs", AGENT_SLUG, PriceTable.load(settings.prices_file)
        )
        self.systemd = Notifier()
        self.heartbeat = Heartbeat(
            settings.state_dir, AGENT_SLUG, __version__, settings.daily_budget_usd
        )
        self.policy = RetryPolicy(
            max_attempts=settings.http_max_attempts,
            max_total_seconds=settings.http_max_total_seconds,
            timeout_seconds=settings.http_timeout_seconds,
        )
        self.notifier = make_notifier(settings, self.policy, on_wait=self.systemd.watchdog)
        self.stop_requested = threading.Event()
        self._provider = None

    # Start and stop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Take the state directory, load people, recover what a crash left, tell systemd."""
        self.inbox.lock()
        if self.settings.people_csv is not None:
            count = self.db.import_people(self.settings.people_csv)
            logger.info("Loaded %d people from %s", count, self.settings.people_csv)
        self.provider()  # a wrong provider or a missing API key stops the start, loudly
        self.recover()
        self.write_heartbeat("running")
        self.systemd.ready(self.status_line())
        logger.info(
            "Agent %s %s started",
            AGENT_SLUG,
            __version__,
            extra={"state_dir": str(self.settings.state_dir)},
        )

    def close(self) -> None:
        """Release the state directory and the database."""
        self.inbox.unlock()
        self.db.close()

    def install_signal_handlers(self) -> None:
        def request_stop(signum, _frame):
            logger.info(
                "Received %s: finishing the current item, then stopping",
                signal.Signals(signum).name,
            )
            self.stop_requested.set()
            self.systemd.stopping()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def recover(self) -> None:
        """Put files a crash left in processing/ back in the queue, or in failed/ after N tries."""
        for temp in self.inbox.remove_temp_files():
            logger.info("Removed %s, left by an interrupted write", temp.name)
        for path in self.inbox.leftovers():
            try:
                content_hash = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                content_hash = ""
            row = self.db.item(content_hash) if content_hash else None
            item_id = row["item_id"] if row else None
            if row and row["status"] in TERMINAL:
                # It was decided before the crash; only the last move was missing.
                target = self.inbox.place(path, TERMINAL[row["status"]])
            elif row and row["attempts"] >= self.settings.max_attempts:
                reason = f"interrupted {row['attempts']} times while being processed"
                target = self.fail(path, item_id, reason, row["attempts"], content_hash)
            else:
                target = self.inbox.give_back(path)
            self.audit.append("item.recovered", item_id, file=path.name, to=str(target.parent.name))
            logger.warning("Recovered %s from processing/ into %s/", path.name, target.parent.name)

    # The loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Process the inbox until SIGTERM, pinging the watchdog between and during items."""
        while not self.stop_requested.is_set():
            self.run_once()
            self.write_heartbeat("idle" if not self.budget_reached() else "budget reached")
            self.systemd.status(self.status_line())
            deadline = time.monotonic() + self.settings.poll_interval_seconds
            while not self.stop_requested.is_set() and time.monotonic() < deadline:
                self.systemd.watchdog()
                self.stop_requested.wait(min(1.0, self.settings.poll_interval_seconds))
        self.write_heartbeat("stopped")
        logger.info("Agent stopped cleanly")

    def run_once(self) -> int:
        """Process every file waiting now; return how many were handled."""
        handled = 0
        for path in self.inbox.waiting():
            if self.stop_requested.is_set() or self.budget_reached():
                break
            self.systemd.watchdog()
            try:
                self.process_file(path)
            except BudgetReached:
                break
            handled += 1
            self.write_heartbeat("running")
        return handled

    def budget_reached(self) -> bool:
        spent = self.ledger.spent_today()
        reached = spent >= self.settings.daily_budget_usd
        if reached:
            self.alert_once(
                "budget",
                today_utc().isoformat(),
                f"{AGENT_SLUG}: daily LLM budget reached (${spent:.4f} of "
                f"${self.settings.daily_budget_usd:.2f}); documents wait until "
                "tomorrow (UTC) or a higher DAILY_BUDGET_USD.",
            )
        return reached

    # One item ---------------------------------------------------------------------------------

    def process_file(self, path: Path) -> str:
        """Carry one waiting file to done/, failed/ or review/ (or back to incoming/)."""
        original_name = path.name
        if not path.exists() and not path.is_symlink():
            return "gone"
        claimed = self.inbox.claim(path)
        try:
            data = read_regular_file(claimed, self.settings.max_file_bytes)
        except (ValueError, OSError) as error:
            self.audit.append("item.received", None, file=original_name)
            self.fail(claimed, None, str(error), 1, None)
            return "failed"
        content_hash = hashlib.sha256(data).hexdigest()
        item_id = content_hash[:ITEM_ID_CHARS]
        row = self.db.item(content_hash)
        if row and row["status"] in TERMINAL:
            target = self.inbox.place(
                claimed,
                "done",
                {"item_id": item_id, "duplicate_of": row["name"], "status": row["status"]},
            )
            self.audit.append("item.duplicate", item_id, file=original_name, first=row["name"])
            self.heartbeat.count("duplicate")
            logger.info(
                "Duplicate of an item already handled: %s", target.name, extra={"item_id": item_id}
            )
            return "duplicate"
        attempt = self.db.start_attempt(content_hash, item_id, original_name)
        self.audit.append(
            "item.received", item_id, file=original_name, attempt=attempt, bytes=len(data)
        )
        self.inbox.keep_original(item_id, claimed.suffix, data)
        try:
            outcome = job.process(claimed, data, Context(self, item_id))
        except BudgetReached:
            self.db.give_back_attempt(content_hash)
            self.inbox.give_back(claimed)
            self.audit.append("item.waiting", item_id, reason="daily budget reached")
            raise
        except job.ItemFailed as error:
            self.fail(claimed, item_id, str(error), attempt, content_hash)
            return "failed"
        except (job.TryLater, TransientError) as error:
            return self.retry_later(claimed, item_id, str(error), attempt, content_hash)
        except PermanentError as error:
            # A configuration problem (bad API key...): the document itself is fine; keep it.
            self.alert_once("config", str(error), f"{AGENT_SLUG}: {error}")
            return self.retry_later(claimed, item_id, str(error), attempt, content_hash)
        if isinstance(outcome, job.NeedsReview):
            self.park_for_review(claimed, item_id, content_hash, outcome)
            return "review"
        self.audit.append("match.decided", item_id, person=outcome.person.id, by="rules")
        result = job.build_result(item_id, original_name, outcome.fields, outcome.person, "rules")
        self.finish(claimed, item_id, content_hash, result)
        return "done"

    def ask(
        self, system: str, prompt: str, *, purpose: str, max_tokens: int, item_id: str | None
    ) -> str:
        """Call the LLM within the budget, recording the cost of every billed call."""
        if self.budget_reached():
            raise BudgetReached
        provider = self.provider()
        started = time.monotonic()
        model = self.settings.llm_model
        try:
            reply = provider.complete(
                system=system, prompt=prompt, model=model, max_tokens=max_tokens
            )
        except LLMError as error:
            latency = (time.monotonic() - started) * 1000
            if error.usage is not None:
                self.ledger.record(
                    provider=provider.name,
                    model=model,
                    usage=error.usage,
                    latency_ms=latency,
                    purpose=purpose,
                    item_id=item_id,
                    status="error",
                )
            self.audit.append(
                "llm.call", item_id, model=model, purpose=purpose, status="error", error=str(error)
            )
            if error.transient:
                raise TransientError(str(error)) from None
            raise PermanentError(str(error)) from None
        latency = (time.monotonic() - started) * 1000
        record = self.ledger.record(
            provider=provider.name,
            model=model,
            usage=reply.usage,
            latency_ms=latency,
            purpose=purpose,
            item_id=item_id,
            status="ok",
            response_model=reply.model,
        )
        self.audit.append(
            "llm.call",
            item_id,
            model=reply.model,
            purpose=purpose,
            status="ok",
            input_tokens=reply.usage.input_tokens,
            output_tokens=reply.usage.output_tokens,
            cost_usd=record["cost_usd"],
        )
        if record["cost_usd"] is None:
            self.alert_once(
                "unknown_price",
                model,
                f"{AGENT_SLUG}: no price known for model {model}; its costs are "
                "recorded as null until it is added to the price table (PRICES_FILE).",
            )
        self.heartbeat.data["last_llm_success"] = datetime.now(UTC).isoformat(timespec="seconds")
        return reply.text

    def provider(self):
        if self._provider is None:
            self._provider = make_provider(
                self.settings.llm_provider,
                api_key=self.settings.llm_api_key,
                base_url=self.settings.llm_base_url,
                policy=self.policy,
                on_wait=self.systemd.watchdog,
            )
        return self._provider

    def finish(self, path: Path, item_id: str, content_hash: str, result: dict) -> None:
        """Write the result to outbox/ (once per item), notify, and move the input to done/."""
        outbox = self.inbox.outbox / f"{item_id}.json"
        if not outbox.exists():  # written by an attempt that crashed before the move: keep it
            atomic_write_json(outbox, result)
            self.audit.append(
                "outbox.written",
                item_id,
                file=outbox.name,
                person=result.get("person", {}).get("id"),
            )
        self.notify(job.notification(result), item_id)
        self.db.finish_item(content_hash, "done", outbox=outbox.name)
        target = self.inbox.place(path, "done")
        self.audit.append("item.moved", item_id, to="done", file=target.name)
        self.heartbeat.count("done")
        logger.info("Done: %s", target.name, extra={"item_id": item_id, "outbox": outbox.name})

    def park_for_review(
        self, path: Path, item_id: str, content_hash: str, outcome: job.NeedsReview
    ) -> None:
        """Hand the decision to a human: never pick among candidates."""
        self.audit.append(
            "match.undecided",
            item_id,
            reason=outcome.reason,
            candidates=[c.id for c in outcome.candidates],
        )
        self.db.finish_item(content_hash, "review", reason=outcome.reason)
        target = self.inbox.place(
            path,
            "review",
            {
                "item_id": item_id,
                "reason": outcome.reason,
                "fields": outcome.fields,
                "candidates": [vars(c) for c in outcome.candidates],
                "decide_with": f"{AGENT_SLUG} review show {item_id}",
            },
        )
        self.db.add_review(item_id, target.name, outcome.reason, outcome.fields, outcome.candidates)
        self.audit.append("item.moved", item_id, to="review", file=target.name)
        self.heartbeat.count("review")
        self.notify(
            f"{AGENT_SLUG}: a document needs a human decision ({outcome.reason}). "
            f"Run: {AGENT_SLUG} review show {item_id}",
            item_id,
        )
        logger.info(
            "Needs review: %s (%s)", target.name, outcome.reason, extra={"item_id": item_id}
        )

    def retry_later(
        self, path: Path, item_id: str, reason: str, attempt: int, content_hash: str
    ) -> str:
        if attempt >= self.settings.max_attempts:
            self.fail(
                path, item_id, f"gave up after {attempt} attempts: {reason}", attempt, content_hash
            )
            return "failed"
        self.db.finish_item(content_hash, "waiting", reason=reason)
        target = self.inbox.give_back(path)
        self.audit.append("item.moved", item_id, to="incoming", reason=reason, attempt=attempt)
        logger.warning(
            "Will retry %s later (attempt %d of %d): %s",
            target.name,
            attempt,
            self.settings.max_attempts,
            reason,
            extra={"item_id": item_id},
        )
        return "retry"

    def fail(
        self, path: Path, item_id: str | None, reason: str, attempts: int, content_hash: str | None
    ) -> Path:
        if content_hash:
            self.db.finish_item(content_hash, "failed", reason=reason)
        target = self.inbox.place(
            path, "failed", {"item_id": item_id, "error": reason, "attempts": attempts}
        )
        self.audit.append("item.moved", item_id, to="failed", file=target.name, reason=reason)
        self.heartbeat.count("failed")
        logger.error("Failed: %s: %s", target.name, reason, extra={"item_id": item_id})
        return target

    # Human decisions --------------------------------------------------------------------------

    def resolve_review(self, item_id: str, choose: int | None, note: str = "") -> str:
        """Continue a parked item with the human's choice (1-based) or reject it (choose None)."""
        review = self.db.review(item_id)
        if review is None or review["status"] != "pending":
            raise LookupError(f"no pending review {item_id!r}; see: {AGENT_SLUG} review list")
        path = self.settings.state_dir / "review" / review["file"]
        row = self.db.item_by_id(item_id)
        if choose is None:
            self.audit.append("human.decision", item_id, decision="reject", note=note)
            self.db.decide_review(item_id, "rejected", {"reject": True, "note": note})
            self.fail(
                path,
                item_id,
                f"rejected by a human: {note or 'no reason given'}",
                row["attempts"] if row else 0,
                row["content_hash"] if row else None,
            )
            return "rejected"
        candidates = review["candidates"]
        if not 1 <= choose <= len(candidates):
            raise ValueError(
                f"--choose must be between 1 and {len(candidates)} for {item_id}"
                if candidates
                else f"{item_id} has no candidates to choose from; fix the data and drop the "
                "document again, or --reject it"
            )
        person = self.db.person(candidates[choose - 1].id)
        if person is None:
            raise LookupError(f"person #{candidates[choose - 1].id} is no longer in the database")
        self.audit.append("human.decision", item_id, decision="choose", person=person.id, note=note)
        self.db.decide_review(item_id, "resolved", {"person": person.id, "note": note})
        result = job.build_result(
            item_id, row["name"] if row else review["file"], review["fields"], person, "human"
        )
        self.finish(path, item_id, row["content_hash"] if row else item_id, result)
        sidecar = path.with_name(path.name + ".why.json")
        sidecar.unlink(missing_ok=True)
        return "resolved"

    # Alerts, heartbeat, status ----------------------------------------------------------------

    def notify(self, text: str, item_id: str | None) -> None:
        """Send a message; a notification failure never loses the item (it is in outbox/)."""
        try:
            self.notifier.send(text)
        except (TransientError, PermanentError) as error:
            self.audit.append(
                "notification.failed", item_id, channel=self.notifier.name, error=str(error)
            )
            logger.warning("Notification failed: %s", error, extra={"item_id": item_id})
            return
        self.audit.append("notification.sent", item_id, channel=self.notifier.name)

    def alert_once(self, kind: str, key: str, text: str) -> None:
        """Send an alert once per (kind, key), remembered across restarts."""
        path = self.settings.state_dir / ALERTS_FILE
        try:
            sent = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            sent = {}
        if sent.get(kind) == key:
            return
        logger.warning(text, extra={"alert": kind})
        self.notify(text, None)
        sent[kind] = key
        atomic_write_json(path, sent)

    def write_heartbeat(self, status: str) -> None:
        spent = self.ledger.spent_today()
        self.heartbeat.write(
            status=status,
            cost_today_usd=round(spent, 6),
            budget_reached=spent >= self.settings.daily_budget_usd,
            unknown_price_models=sorted(self.ledger.unknown_models),
        )

    def status_line(self) -> str:
        counters = self.heartbeat.data["counters"]
        waiting, _ = self.inbox.oldest_waiting_seconds()
        return (
            f"done {counters['done']}, review {counters['review']}, failed "
            f"{counters['failed']}, waiting {waiting}, "
            f"${self.ledger.spent_today():.4f} of ${self.settings.daily_budget_usd:.2f}"
        )
