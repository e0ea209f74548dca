"""The agent: the loop that carries each item through the job, with the four pillars around it.

The runtime/ package does the work, for any job; this module puts one agent together (its state
directory, records, notifier, job) and runs the loop. The job is job.py's unless one is given.
"""

import logging
import signal
import time
from collections import deque
from pathlib import Path

from . import AGENT_SLUG, __version__
from .contract.layout import DATABASE_FILE
from .deployment.heartbeat import Heartbeat
from .deployment.systemd import Notifier
from .integrations.notify import make_notifier
from .job import make_job
from .observability.audit import AuditLog
from .observability.costs import CostLedger, PriceTable, usd
from .reliability import effects
from .reliability.http import RetryPolicy
from .reliability.inbox import Inbox
from .reliability.snapshot import ItemGate
from .runtime import recovery
from .runtime.clock import ItemClock, StopFlag
from .runtime.disk import WRITE_ERRORS, DiskFull, DiskPause, is_disk_full
from .runtime.gateway import BudgetReached, Gateway
from .runtime.items import ItemRunner
from .runtime.protocol import Job
from .runtime.review import ReviewQueue
from .security.db import Database

logger = logging.getLogger(__name__)

# The heartbeat is rewritten at most this often while items are processed (always when idle).
HEARTBEAT_RUNNING_SECONDS = 1.0
# A batch (runtime/items.py, group commit): items decided done back to back, moved and delivered
# together. It ends after this many items, or once its first item was taken this long ago: an item
# that waits for a slow LLM answer is a batch of its own, and no result waits longer for others.
BATCH_ITEMS = 32
BATCH_SECONDS = 0.25


class Agent:
    """One agent's state directory, pillars, job and loop."""

    def __init__(self, settings, job: Job | None = None):
        self.settings = settings
        self.inbox = Inbox(settings.state_dir)
        # Held around each item and the work between items: a snapshot waits for it (snapshot.py).
        self.gate = ItemGate(settings.state_dir)
        self.db = Database(settings.state_dir / DATABASE_FILE)
        self.job = job if job is not None else make_job()
        self.job.open(self.db)
        self.audit = AuditLog(settings.state_dir / "audit.jsonl")
        self.heartbeat_written = float("-inf")
        self.ledger = CostLedger(
            settings.state_dir / "costs", AGENT_SLUG, PriceTable.load(settings.prices_file)
        )
        self.systemd = Notifier()
        self.heartbeat = Heartbeat(
            settings.state_dir,
            AGENT_SLUG,
            __version__,
            settings.daily_budget_usd,
            settings.health_services,
        )
        self.policy = RetryPolicy(
            max_attempts=settings.http_max_attempts,
            max_total_seconds=settings.http_max_total_seconds,
            timeout_seconds=settings.http_timeout_seconds,
        )
        self.notifier = make_notifier(settings, self.policy, on_wait=self.systemd.watchdog)
        self.effects = effects.Sender(self.db, self.inbox.outbox)
        self.stop_requested = StopFlag()
        self.clock = ItemClock(settings.item_time_limit_seconds)
        self.gateway = Gateway(self)
        self.disk = DiskPause(self)
        self.items = ItemRunner(self)
        self.reviews = ReviewQueue(self)

    @property
    def disk_full_since(self) -> str | None:
        """When the disk filled up, while processing is paused for it."""
        return self.disk.since

    # Start and stop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Take the state directory, load the job's data, recover a crash, tell systemd."""
        self.inbox.lock()
        self.job.start(self.settings)
        self.gateway.provider()  # a wrong provider or a missing API key stops the start, loudly
        with self.gate.hold():
            self.recover()
            self.deliver_effects()  # what a crash left queued, before anything new
        self.write_heartbeat("running")
        self.systemd.ready(self.status_line())
        logger.info(
            "Agent %s %s started",
            AGENT_SLUG,
            __version__,
            extra={"state_dir": str(self.settings.state_dir)},
        )

    def close(self) -> None:
        """Make the records durable; release the state directory and the database."""
        try:
            self.ledger.sync()
        except OSError as error:
            logger.warning("Cannot sync the cost record: %s", error)
        self.inbox.unlock()
        self.gate.close()
        self.db.close()

    def install_signal_handlers(self) -> None:
        def request_stop(signum, _frame):
            # Nothing here may take a lock the interrupted code could hold (see StopFlag);
            # logging's locks are re-entrant.
            self.stop_requested.set()
            self.systemd.stopping()
            logger.info(
                "Received %s: finishing the current item, then stopping",
                signal.Signals(signum).name,
            )

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def recover(self) -> None:
        recovery.recover(self)

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
                self.between_items()
                self.stop_requested.wait(min(1.0, self.settings.poll_interval_seconds))
        self.write_heartbeat("stopped")
        logger.info("Agent stopped cleanly")

    def run_once(self, wait_for_settling: bool = False) -> int:
        """Process every file waiting now; return how many were handled.

        With wait_for_settling (the `once` command), files too young to be taken are waited for
        until they settle, rather than left for a next loop that `once` does not have.
        """
        if self.disk.since is not None and not self.disk.resume_if_writable():
            return 0
        self.between_items()
        if wait_for_settling:
            self.inbox.wait_for_settling(self.stop_requested.wait)
        handled, waiting = 0, deque(self.inbox.waiting())
        while waiting and not self.stop_requested.is_set() and not self.budget_reached():
            with self.gate.hold():
                count, stop = self.process_batch(waiting)
            handled += count
            if stop:
                break
            self.write_heartbeat("running")
            self.between_items()
        return handled

    def process_batch(self, waiting: deque[Path]) -> tuple[int, bool]:
        """Process files from the front of waiting as one batch (one at least), then flush it.

        Return how many were handled, and whether to stop (the budget reached, a full disk).
        """
        opened, handled, stop = time.monotonic(), 0, False
        try:
            while waiting:
                self.systemd.watchdog()
                self.process_file(waiting.popleft(), defer=True)
                handled += 1
                if (
                    len(self.items.pending) >= BATCH_ITEMS
                    or time.monotonic() - opened >= BATCH_SECONDS
                    or self.stop_requested.is_set()
                    or self.budget_reached()
                ):
                    break
        except BudgetReached:
            stop = True
        except DiskFull as error:
            self.items.forget_pending()
            self.disk.pause(str(error))
            return handled, True
        try:
            self.items.flush()
        except WRITE_ERRORS as error:
            if not is_disk_full(error):
                raise
            self.disk.pause(str(error))
            return handled, True
        return handled, stop

    def process_file(self, path: Path, defer: bool = False) -> str:
        return self.items.process_file(path, defer)

    def between_items(self) -> None:
        """Apply the decisions operators handed over, and deliver the effects now due."""
        if self.disk.since is not None:
            return
        try:
            with self.gate.hold():
                self.reviews.apply_handed_over()
                self.deliver_effects()
        except WRITE_ERRORS as error:
            if not is_disk_full(error):
                raise
            self.disk.pause(str(error))

    def deliver_effects(self) -> None:
        """Deliver the effects due, after the moves of the items decided done (items.flush)."""
        self.items.flush()
        self.effects.deliver(self.audit, self.notifier, self.settle)

    def settle(self, *syncs) -> None:
        """Make what was recorded or moved and is not durable yet durable, together with syncs.

        The noted audit entries, the last cost record, the database's commits, archived originals
        and the folders of a move left to it (inbox.settle), all issued together: an item's next
        effect waits for it.
        """
        pending = [self.audit.sync] if self.audit.unsynced else []
        if self.ledger.unsynced is not None:
            pending.append(self.ledger.sync)
        if self.db.owed:
            pending.append(self.db.sync)
        self.inbox.settle(*pending, *syncs)

    def budget_reached(self) -> bool:
        return self.gateway.budget_reached()

    # Human decisions (runtime/review.py) ------------------------------------------------------

    def resolve_review(
        self,
        item_id: str,
        choose: int | None,
        note: str = "",
        by: str = "",
        decided_by: dict | None = None,
    ) -> str:
        """Continue a parked item with the human's choice (1-based) or reject it (choose None)."""
        return self.reviews.resolve(item_id, choose, note, by, decided_by)

    def hand_over_decision(self, item_id: str, choose: int | None, note: str, by: str) -> Path:
        return self.reviews.hand_over(item_id, choose, note, by)

    # Alerts, heartbeat, status ----------------------------------------------------------------

    def alert(self, key: str, text: str) -> None:
        """Queue an alert once per key (remembered across restarts) and deliver it.

        The agent owns the alerts about what it meets first: budget reached, an unknown price, a
        configuration error, a full disk. agentctl owns the rest (docs/contract.md, "Alerts").
        """
        if self.db.effect(f"alert:{key}") is not None:
            return
        logger.warning(text, extra={"alert": key.split(":", 1)[0]})
        self.db.queue_effects((effects.message(f"alert:{key}", None, text),))
        self.deliver_effects()

    def write_heartbeat(self, status: str) -> None:
        if status == "running":
            # While items stream in, once a second says as much as once an item.
            if time.monotonic() - self.heartbeat_written < HEARTBEAT_RUNNING_SECONDS:
                return
        else:
            # Idle or stopping: checkpoint the audit chain's head (audit.head), and make the
            # counts and marks committed since the last decision durable.
            self.audit.checkpoint()
            try:
                self.db.sync()
            except OSError as error:
                logger.warning("Cannot sync the database: %s", error)
        self.heartbeat_written = time.monotonic()
        spent = self.ledger.spent_today()
        try:
            self.heartbeat.write(
                status="disk full" if self.disk.since else status,
                cost_today_usd=round(spent, 6),
                budget_reached=spent >= self.settings.daily_budget_usd,
                unknown_price_models=sorted(self.ledger.unknown_models),
            )
        except OSError as error:
            if not is_disk_full(error):
                raise
            # A stale heartbeat is what the health check notices; the loop carries on.
            logger.warning("Heartbeat not written: %s", error)

    def status_line(self) -> str:
        counters = self.heartbeat.data["counters"]
        waiting, _ = self.inbox.oldest_waiting_seconds()
        return (
            f"done {counters['done']}, review {counters['review']}, failed "
            f"{counters['failed']}, waiting {waiting}, "
            f"${self.ledger.spent_today():.4f} of {usd(self.settings.daily_budget_usd)}"
        )
