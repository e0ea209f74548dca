"""A full disk: processing pauses, the owner is told directly, and work resumes once writes do."""

import errno
import logging
import sqlite3
from datetime import UTC, datetime

from .. import AGENT_SLUG
from ..contract.files import atomic_write_bytes
from ..observability.audit import AuditError, AuditLog
from ..reliability import effects
from ..reliability.http import PermanentError, TransientError

logger = logging.getLogger(__name__)

# A disk-full alert cannot be queued on a full disk: it is sent directly, tried this many times.
DISK_ALERT_TRIES = 5
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# Written and removed in the state directory to learn whether writes succeed again after a full
# disk: big enough that an item's own records (audit, costs, outbox) will fit too.
DISK_PROBE_FILE = ".disk-probe"
DISK_PROBE_BYTES = 256 * 1024
# What a write that fails for lack of space raises, in the agent's own records.
WRITE_ERRORS = (OSError, sqlite3.Error, AuditError)


class DiskFull(Exception):
    """A write failed for lack of space; processing pauses until writes succeed again."""


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


class DiskPause:
    """The pause of one agent: since when, and whether the owner was told."""

    def __init__(self, agent):
        self.agent = agent
        self.since: str | None = None  # set while paused
        self._alert_tries = 0
        self._alerted = False

    def pause(self, reason: str) -> None:
        """Stop taking items until writes succeed again; alert once (nothing can be written now)."""
        if self.since is None:
            self.since = datetime.now(UTC).isoformat(timespec="seconds")
        logger.error("Disk full, processing paused: %s", reason, extra={"alert": "disk"})
        self.send_alert(reason)

    def send_alert(self, reason: str) -> None:
        """Tell the owner, directly: on a full disk the alert cannot be queued.

        It counts as sent only once delivered; each pause tries it a bounded number of times.
        """
        if self._alerted or self._alert_tries >= DISK_ALERT_TRIES:
            return
        self._alert_tries += 1
        text = (
            f"{AGENT_SLUG}: the disk is full ({reason}); processing is paused and resumes by "
            f"itself once there is space. Nothing is lost: documents wait in incoming/."
        )
        try:
            self.agent.notifier.send(text)
        except (TransientError, PermanentError) as error:
            logger.warning(
                "Disk-full alert not sent (try %d of %d): %s",
                self._alert_tries,
                DISK_ALERT_TRIES,
                error,
            )
            return
        self._alerted = True

    def resume_if_writable(self) -> bool:
        """Probe with a real write; once it succeeds, recover leftovers and resume."""
        agent = self.agent
        probe = agent.settings.state_dir / DISK_PROBE_FILE
        self.send_alert("writes still fail")
        try:
            atomic_write_bytes(probe, bytes(DISK_PROBE_BYTES))
            probe.unlink()
            # Reopened, the audit log repairs an append the full disk cut short (a torn line) the
            # way it does after a crash.
            agent.audit.close()
            agent.audit = AuditLog(agent.audit.path)
            agent.recover()  # an item decided just before the disk filled up gets its last move
            agent.audit.append("agent.resumed", None, reason="disk full", since=self.since)
            if self._alerted:
                agent.db.queue_effects(
                    (
                        effects.message(
                            f"alert:disk-recovered:{self.since}",
                            None,
                            f"{AGENT_SLUG}: recovered, the disk has space again.",
                        ),
                    )
                )
            agent.deliver_effects()
        except WRITE_ERRORS as error:
            if not is_disk_full(error):
                raise
            return False
        logger.warning("Writes succeed again; processing resumes (disk full since %s)", self.since)
        self.since, self._alerted, self._alert_tries = None, False, 0
        return True
