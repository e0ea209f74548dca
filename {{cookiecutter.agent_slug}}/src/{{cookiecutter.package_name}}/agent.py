"""The agent: the loop that carries each item through job.py with the four pillars around it."""

import errno
import gc
import hashlib
import json
import logging
import os
import signal
import sqlite3
import stat
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from . import AGENT_SLUG, __version__, job
from .deployment.heartbeat import Heartbeat
from .deployment.systemd import Notifier
from .integrations.llm import make_provider
from .integrations.llm.base import LLMError
from .integrations.notify import make_notifier
from .observability.audit import AuditError, AuditLog
from .observability.costs import CostLedger, PriceTable, today_utc
from .reliability import effects
from .reliability.files import atomic_create_json, atomic_write_bytes, free_path
from .reliability.http import PermanentError, RetryPolicy, TransientError
from .reliability.inbox import DATABASE_FILE, Inbox, read_regular_file
from .security.db import Database

logger = logging.getLogger(__name__)

ITEM_ID_CHARS = 16
# An item in hand when the process died this many times is taken for the cause (a document that
# crashes a parser, or exhausts memory): it goes to failed/. Below systemd's start limit
# (agent_start_limit_burst), so the unit is still running when the item is given up.
MAX_CRASHES = 3
# Operator decisions handed to the running agent (one writer per state directory).
DECISIONS_FOLDER = "decisions"
REFUSED_SUFFIX = ".refused.json"
# A disk-full alert cannot be queued on a full disk: it is sent directly, tried this many times.
DISK_ALERT_TRIES = 5
TERMINAL = {"done": "done", "review": "review", "failed": "failed"}
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# Written and removed in the state directory to learn whether writes succeed again after a full
# disk: big enough that an item's own records (audit, costs, outbox) will fit too.
DISK_PROBE_FILE = ".disk-probe"
DISK_PROBE_BYTES = 256 * 1024
# Python ignores an exception raised in a __del__ method or a gc callback, so an alarm that
# strikes there waits: past the time limit it strikes again this often, until it lands elsewhere.
ALARM_REPEAT_SECONDS = 0.1


class BudgetReached(Exception):
    """Today's LLM spend reached the daily budget; items wait for tomorrow."""


class DiskFull(Exception):
    """A write failed for lack of space; processing pauses until writes succeed again."""


class ItemTimeout(BaseException):
    """An item ran past ITEM_TIME_LIMIT_SECONDS (a PDF bomb, a stuck parse).

    A BaseException, like KeyboardInterrupt, so that no `except Exception` inside a parser can
    swallow it.
    """


def is_disk_full(error: BaseException | None) -> bool:
    """Tell whether error, or an error behind it, says the disk (or the quota) is full.

    AuditError hides its OSError from messages (`from None`) but keeps it as __context__.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        error = error.__cause__ or error.__context__
    return False


class ItemClock:
    """Interrupt the job steps of an item that run past the time limit, with SIGALRM.

    Signals reach only the main thread, so elsewhere (an application embedding the agent) there is
    no limit. The alarm is held back while the agent calls the LLM and writes its own records: the
    HTTP_* settings bound those calls, and a cost record or audit entry must never be cut in half.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._holds = 0
        self._armed = False
        self._expired = False

    @contextmanager
    def limit(self):
        """Raise ItemTimeout in the block once the time limit has passed."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._alarm)
        self._armed, self._expired = True, False
        signal.setitimer(signal.ITIMER_REAL, self.seconds, ALARM_REPEAT_SECONDS)
        try:
            yield
        finally:
            self._armed = False  # first: an alarm that strikes from here on does nothing
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @contextmanager
    def hold(self):
        """Run the block whole; a time limit passed meanwhile strikes when it ends."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
        if self._holds == 0 and self._armed and self._expired:
            raise self._timeout()

    def _alarm(self, _signum, frame) -> None:
        if not self._armed:
            return
        self._expired = True
        if self._holds == 0 and not in_finalizer(frame):
            raise self._timeout()

    def _timeout(self) -> ItemTimeout:
        return ItemTimeout(
            f"processing took longer than ITEM_TIME_LIMIT_SECONDS={self.seconds:g}s "
            "(a PDF bomb or a document too complex to read?)"
        )


class StopFlag:
    """Set by a signal handler, waited on by the loop: a threading.Event without its lock.

    Event.set() takes the lock that Event.wait() holds in the main thread between two of its
    steps; a SIGTERM handler calling it at that moment would wait for itself forever. Setting a
    plain attribute cannot block, and wait() looks at it every WAIT_SLICE_SECONDS.
    """

    WAIT_SLICE_SECONDS = 0.05

    def __init__(self):
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep up to timeout seconds, less once set; return whether it is set."""
        deadline = time.monotonic() + timeout
        while not self._set:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, self.WAIT_SLICE_SECONDS))
        return self._set


class Context:
    """What job.process gets for one item: the database and a costed, budgeted LLM call."""

    def __init__(self, agent: "Agent", item_id: str):
        self.agent = agent
        self.db = agent.db
        self.item_id = item_id

    def ask(self, system: str, prompt: str, *, purpose: str, max_tokens: int) -> str:
        with self.agent.clock.hold():
            return self.agent.ask(
                system, prompt, purpose=purpose, max_tokens=max_tokens, item_id=self.item_id
            )


class Agent:
    """One agent's state directory, pillars and loop."""

    def __init__(self, settings):
        self.settings = settings
        self.inbox = Inbox(settings.state_dir)
        self.db = Database(settings.state_dir / DATABASE_FILE)
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
        self.effects = effects.Sender(self.db, self.inbox.outbox)
        self.decisions = settings.state_dir / DECISIONS_FOLDER
        self.stop_requested = StopFlag()
        self.clock = ItemClock(settings.item_time_limit_seconds)
        self.disk_full_since: str | None = None  # set while paused for a full disk
        self._disk_alert_tries = 0
        self._disk_alerted = False
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
        """Release the state directory and the database."""
        self.inbox.unlock()
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
        """Finish the moves a crash cut short, and give back the items it interrupted.

        An item decided before the crash (its status and effects committed) gets its last move. An
        item interrupted while in hand goes back to the end of the queue with its attempt given
        back: a kill, a power cut or a stop is not the item's fault. Only an item in hand at
        MAX_CRASHES deaths of the process is taken for their cause and goes to failed/.
        """
        for temp in self.inbox.remove_temp_files():
            logger.info("Removed %s, left by an interrupted write", temp.name)
        for path in self.inbox.leftovers():
            content_hash = content_hash_of(path)
            row = self.db.item(content_hash) if content_hash else None
            item_id = row["item_id"] if row else None
            if row and row["status"] in TERMINAL:
                target = self.inbox.place(path, TERMINAL[row["status"]], decided_why(row))
                if row["status"] == "review":
                    self.db.set_review_file(item_id, target.name)
            elif row and row["status"] == "processing":
                row = self.db.give_back_attempt(content_hash, crashed=True)
                if row["crashes"] >= MAX_CRASHES:
                    reason = (
                        f"the agent process died {row['crashes']} times while it held this "
                        "document (killed, out of memory, or crashed by it); it is set aside so "
                        "the others go on. Retry it once the cause is fixed: agentctl retry"
                    )
                    target = self.fail(path, item_id, reason, row["attempts"], content_hash)
                else:
                    target = self.inbox.give_back_last(path)
            else:
                target = self.inbox.give_back(path)
            self.audit.append(
                "item.recovered",
                item_id,
                file=path.name,
                to=str(target.parent.name),
                **({"crashes": row["crashes"]} if row else {}),
            )
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
                self.between_items()
                self.stop_requested.wait(min(1.0, self.settings.poll_interval_seconds))
        self.write_heartbeat("stopped")
        logger.info("Agent stopped cleanly")

    def run_once(self, wait_for_settling: bool = False) -> int:
        """Process every file waiting now; return how many were handled.

        With wait_for_settling (the `once` command), files too young to be taken are waited for
        until they settle, rather than left for a next loop that `once` does not have.
        """
        if self.disk_full_since is not None and not self.resume_if_writable():
            return 0
        self.between_items()
        if wait_for_settling:
            self.inbox.wait_for_settling(self.stop_requested.wait)
        handled = 0
        for path in self.inbox.waiting():
            if self.stop_requested.is_set() or self.budget_reached():
                break
            self.systemd.watchdog()
            try:
                self.process_file(path)
            except BudgetReached:
                break
            except DiskFull as error:
                self.pause_for_disk(str(error))
                break
            handled += 1
            self.write_heartbeat("running")
            self.between_items()
        return handled

    def between_items(self) -> None:
        """Apply the decisions operators handed over, and deliver the effects now due."""
        if self.disk_full_since is not None:
            return
        try:
            self.apply_decisions()
            self.deliver_effects()
        except (OSError, sqlite3.Error, AuditError) as error:
            if not is_disk_full(error):
                raise
            self.pause_for_disk(str(error))

    def deliver_effects(self) -> None:
        self.effects.deliver(self.audit, self.notifier)

    def budget_reached(self) -> bool:
        spent = self.ledger.spent_today()
        reached = spent >= self.settings.daily_budget_usd
        if reached:
            self.alert(
                f"budget:{today_utc().isoformat()}",
                f"{AGENT_SLUG}: daily LLM budget reached (${spent:.4f} of "
                f"${self.settings.daily_budget_usd:.2f}); documents wait until "
                "tomorrow (UTC) or a higher DAILY_BUDGET_USD.",
            )
        return reached

    # One item ---------------------------------------------------------------------------------

    def process_file(self, path: Path) -> str:
        """Carry one waiting file to done/, failed/ or review/ (or back to incoming/).

        Raise DiskFull, with the file back in incoming/, when a write fails for lack of space.
        """
        # A name that is not UTF-8 (copied from a Latin-1 system) decodes with surrogates, which
        # no database, JSON file or message can hold: records show its bad bytes as \xNN.
        original_name = os.fsencode(path.name).decode("utf-8", "backslashreplace")
        if not path.exists() and not path.is_symlink():
            return "gone"
        claimed = self.inbox.claim(path)
        try:
            return self.process_claimed(claimed, original_name)
        except (OSError, sqlite3.Error, AuditError) as error:
            if not is_disk_full(error):
                raise
            # Renames need no space: the input goes back untouched, under its own name, unless
            # it was already decided (then recovery finishes the move once there is space).
            row = self.db.item(content_hash_of(claimed))
            if (claimed.exists() or claimed.is_symlink()) and not (
                row and row["status"] in TERMINAL
            ):
                self.inbox.give_back(claimed, path.name)
            raise DiskFull(f"{error} (while processing {original_name})") from None

    def process_claimed(self, claimed: Path, original_name: str) -> str:
        try:
            data = read_regular_file(claimed, self.settings.max_file_bytes)
        except (ValueError, OSError) as error:
            self.audit.append("item.received", None, file=original_name)
            self.fail(claimed, None, str(error), 1, None)
            return "failed"
        content_hash = hashlib.sha256(data).hexdigest()
        item_id = content_hash[:ITEM_ID_CHARS]
        row = self.db.item(content_hash)
        if row and row["status"] == "failed":
            # Dropped again after it failed (by hand or `agentctl retry`): a fresh set of attempts.
            self.db.reset_attempts(content_hash)
            self.audit.append(
                "item.retry",
                item_id,
                file=original_name,
                reason=row["reason"],
                attempts=row["attempts"],
                crashes=row["crashes"],
            )
        elif row and row["status"] in TERMINAL:
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
            # The watchdog is fed while the item is within its limit (an LLM call in flight when
            # the limit passes holds the clock back, HTTP_MAX_TOTAL_SECONDS at most). Outermost,
            # so that the item's alarm is disarmed before the keep-alive thread is joined.
            with (
                self.systemd.keepalive(
                    self.settings.item_time_limit_seconds + self.settings.http_max_total_seconds
                ),
                self.clock.limit(),
            ):
                outcome = job.process(claimed, data, Context(self, item_id))
        except ItemTimeout as error:
            self.fail(claimed, item_id, str(error), attempt, content_hash)
            return "failed"
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
            self.alert(f"config:{today_utc().isoformat()}:{error}", f"{AGENT_SLUG}: {error}")
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
                    api_url=provider.url,
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
            api_url=provider.url,
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
            self.alert(
                f"unknown_price:{model}",
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

    def finish(self, path: Path, item_id: str, content_hash: str, result: dict) -> Path:
        """Mark the item done with its result and notification queued, move it, deliver them."""
        self.db.finish_item(
            content_hash,
            "done",
            outbox=outbox_name(item_id),
            effects=self.done_effects(item_id, content_hash, result),
        )
        target = self.inbox.place(path, "done")
        self.audit.append("item.moved", item_id, to="done", file=target.name)
        self.heartbeat.count("done")
        logger.info(
            "Done: %s", target.name, extra={"item_id": item_id, "outbox": outbox_name(item_id)}
        )
        self.deliver_effects()
        return target

    def done_effects(self, item_id: str, content_hash: str, result: dict) -> tuple:
        return (
            effects.result_file(item_id, result),
            effects.message(
                f"{item_id}:{self.round(content_hash)}:done",
                item_id,
                f"{job.notification(result)} [item {item_id}]",
            ),
        )

    def round(self, content_hash: str) -> int:
        """Return how many times the item was dropped again after it failed, plus one."""
        row = self.db.item(content_hash)
        return row["round"] if row else 1

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
        # The review row, the item's status and the message are committed together: a crash
        # before retries the item, a crash after lets recovery finish the move.
        planned = free_path(self.settings.state_dir / "review", path.name)
        message = effects.message(
            f"{item_id}:{self.round(content_hash)}:review",
            item_id,
            f"{AGENT_SLUG}: a document needs a human decision ({outcome.reason}). "
            f"Run: {AGENT_SLUG} review show {item_id} [item {item_id}]",
        )
        self.db.add_review(
            item_id,
            planned.name,
            outcome.reason,
            outcome.fields,
            outcome.candidates,
            content_hash=content_hash,
            effects=(message,),
        )
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
        if target.name != planned.name:  # the planned name was taken meanwhile
            self.db.set_review_file(item_id, target.name)
        self.audit.append("item.moved", item_id, to="review", file=target.name)
        self.heartbeat.count("review")
        self.deliver_effects()
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

    # A full disk ------------------------------------------------------------------------------

    def pause_for_disk(self, reason: str) -> None:
        """Stop taking items until writes succeed again; alert once (nothing can be written now)."""
        if self.disk_full_since is None:
            self.disk_full_since = datetime.now(UTC).isoformat(timespec="seconds")
        logger.error("Disk full, processing paused: %s", reason, extra={"alert": "disk"})
        self.send_disk_alert(reason)

    def send_disk_alert(self, reason: str) -> None:
        """Tell the owner, directly: on a full disk the alert cannot be queued.

        It counts as sent only once delivered; each pause tries it a bounded number of times.
        """
        if self._disk_alerted or self._disk_alert_tries >= DISK_ALERT_TRIES:
            return
        self._disk_alert_tries += 1
        text = (
            f"{AGENT_SLUG}: the disk is full ({reason}); processing is paused and resumes by "
            f"itself once there is space. Nothing is lost: documents wait in incoming/."
        )
        try:
            self.notifier.send(text)
        except (TransientError, PermanentError) as error:
            logger.warning(
                "Disk-full alert not sent (try %d of %d): %s",
                self._disk_alert_tries,
                DISK_ALERT_TRIES,
                error,
            )
            return
        self._disk_alerted = True

    def resume_if_writable(self) -> bool:
        """Probe with a real write; once it succeeds, recover leftovers and resume."""
        probe = self.settings.state_dir / DISK_PROBE_FILE
        self.send_disk_alert("writes still fail")
        try:
            atomic_write_bytes(probe, bytes(DISK_PROBE_BYTES))
            probe.unlink()
            # Reopened, the audit log repairs an append the full disk cut short (a torn line, or
            # a whole line whose head was not written) the way it does after a crash.
            self.audit = AuditLog(self.audit.path)
            self.recover()  # an item decided just before the disk filled up gets its last move
            self.audit.append("agent.resumed", None, reason="disk full", since=self.disk_full_since)
            if self._disk_alerted:
                self.db.queue_effects(
                    (
                        effects.message(
                            f"alert:disk-recovered:{self.disk_full_since}",
                            None,
                            f"{AGENT_SLUG}: recovered, the disk has space again.",
                        ),
                    )
                )
            self.deliver_effects()
        except (OSError, sqlite3.Error, AuditError) as error:
            if not is_disk_full(error):
                raise
            return False
        logger.warning(
            "Writes succeed again; processing resumes (disk full since %s)", self.disk_full_since
        )
        self.disk_full_since, self._disk_alerted, self._disk_alert_tries = None, False, 0
        return True

    # Human decisions --------------------------------------------------------------------------

    def check_decision(self, item_id: str, choose: int | None) -> tuple[dict, object]:
        """Return the pending review and the chosen person (None to reject), or raise why not."""
        review = self.db.review(item_id)
        if review is None or review["status"] != "pending":
            raise LookupError(f"no pending review {item_id!r}; see: {AGENT_SLUG} review list")
        if choose is None:
            return review, None
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
        return review, person

    def resolve_review(self, item_id: str, choose: int | None, note: str = "", by: str = "") -> str:
        """Continue a parked item with the human's choice (1-based) or reject it (choose None).

        Only the process that holds the state directory calls this: the running agent for a
        decision handed over in decisions/, or `review resolve` when no agent runs.
        """
        review, person = self.check_decision(item_id, choose)
        path = self.settings.state_dir / "review" / review["file"]
        row = self.db.item_by_id(item_id)
        content_hash = row["content_hash"] if row else item_id
        who = {"by": by} if by else {}
        if person is None:
            reason = f"rejected by a human: {note or 'no reason given'}"
            self.audit.append("human.decision", item_id, decision="reject", note=note, **who)
            if not self.db.decide_review(
                item_id,
                "rejected",
                {"reject": True, "note": note, **who},
                item_status="failed",
                reason=reason,
            ):
                raise LookupError(f"review {item_id!r} was decided meanwhile")
            attempts = row["attempts"] if row else 0
            target = self.inbox.place(
                path, "failed", {"item_id": item_id, "error": reason, "attempts": attempts}
            )
            self.audit.append("item.moved", item_id, to="failed", file=target.name, reason=reason)
            self.heartbeat.count("failed")
            path.with_name(path.name + ".why.json").unlink(missing_ok=True)
            return "rejected"
        self.audit.append(
            "human.decision", item_id, decision="choose", person=person.id, note=note, **who
        )
        result = job.build_result(
            item_id, row["name"] if row else review["file"], review["fields"], person, "human"
        )
        if not self.db.decide_review(
            item_id,
            "resolved",
            {"person": person.id, "note": note, **who},
            item_status="done",
            outbox=outbox_name(item_id),
            effects=self.done_effects(item_id, content_hash, result),
        ):
            raise LookupError(f"review {item_id!r} was decided meanwhile")
        target = self.inbox.place(path, "done")
        self.audit.append("item.moved", item_id, to="done", file=target.name)
        self.heartbeat.count("done")
        path.with_name(path.name + ".why.json").unlink(missing_ok=True)
        self.deliver_effects()
        return "resolved"

    def hand_over_decision(self, item_id: str, choose: int | None, note: str, by: str) -> Path:
        """Queue a checked decision for the running agent; FileExistsError if one waits."""
        self.check_decision(item_id, choose)
        path = self.decisions / f"{item_id}.json"
        (self.decisions / f"{item_id}{REFUSED_SUFFIX}").unlink(missing_ok=True)
        atomic_create_json(path, {"item_id": item_id, "choose": choose, "note": note, "by": by})
        return path

    def apply_decisions(self) -> None:
        """Apply the decisions handed over, oldest first; refuse those that no longer fit."""
        requests = sorted(
            (p for p in self.decisions.glob("*.json") if not p.name.endswith(REFUSED_SUFFIX)),
            key=lambda p: p.stat().st_mtime,
        )
        for path in requests:
            try:
                request = json.loads(path.read_text(encoding="utf-8"))
                item_id = str(request["item_id"])
                choose = request["choose"]
                self.resolve_review(
                    item_id,
                    None if choose is None else int(choose),
                    str(request.get("note") or ""),
                    str(request.get("by") or ""),
                )
            except (ValueError, KeyError, TypeError, LookupError) as error:
                refusal = self.decisions / f"{path.stem}{REFUSED_SUFFIX}"
                atomic_write_bytes(refusal, json.dumps({"error": str(error)}).encode() + b"\n")
                logger.warning("Decision %s refused: %s", path.name, error)
            path.unlink(missing_ok=True)

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
        spent = self.ledger.spent_today()
        try:
            self.heartbeat.write(
                status="disk full" if self.disk_full_since else status,
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
            f"${self.ledger.spent_today():.4f} of ${self.settings.daily_budget_usd:.2f}"
        )


def outbox_name(item_id: str) -> str:
    return effects.result_file(item_id, {}).payload["file"]


def in_finalizer(frame) -> bool:
    """Tell whether frame runs inside a __del__ method or a gc callback."""
    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code.co_name == "__del__" or frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False


def content_hash_of(path: Path) -> str:
    """Return the SHA-256 of a regular file, or "" for anything else (a link, a pipe, a folder).

    Reading a named pipe would block, and a link would be followed out of the state directory.
    """
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return ""
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def decided_why(row) -> dict | None:
    """Return the sidecar of an item decided before a crash cut its last move."""
    if row["status"] == "failed":
        return {"item_id": row["item_id"], "error": row["reason"], "attempts": row["attempts"]}
    if row["status"] == "review":
        return {
            "item_id": row["item_id"],
            "reason": row["reason"],
            "decide_with": f"{AGENT_SLUG} review show {row['item_id']}",
        }
    return None
