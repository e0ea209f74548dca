"""Bounded retries: how many attempts, how much wall time, how long to wait between them.

RetryPolicy(max_attempts=4, max_total_seconds=120, timeout_seconds=30, base_delay_seconds=1,
            max_delay_seconds=30)
    .backoff(attempt, rng) -> seconds            full-jitter exponential backoff
Attempts(policy, what, *, sleep=time.sleep, rng=random.random, on_wait=None)
    .timeout() -> seconds      for the next attempt; TransientError when no time is left
    .failed(failure, status=None, server_wait=None)   log, then wait before the next attempt;
        TransientError when the attempts or the budget are used up (a server's own wait,
        Retry-After or Telegram's retry_after, is honoured or, when it does not fit, given up
        on at once)
wait(seconds, sleep, on_wait)                    sleep in slices, calling on_wait before each
parse_retry_after(header) -> seconds | None      delta-seconds or an HTTP date
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from .errors import TransientError

logger = logging.getLogger(__name__)

# A long wait is cut into slices so that on_wait (the systemd watchdog ping) runs often enough.
WAIT_SLICE_SECONDS = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for one logical call, retries included."""

    max_attempts: int = 4
    max_total_seconds: float = 120.0  # total wall time including waits
    timeout_seconds: float = 30.0  # per request (connect, read)
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Return the full-jitter delay after the failed attempt number `attempt` (0-based)."""
        cap = min(self.max_delay_seconds, self.base_delay_seconds * 2**attempt)
        return rng() * cap


def next_delay(
    policy: RetryPolicy,
    attempt: int,
    elapsed: float,
    *,
    what: str,
    failure: str,
    status: int | None,
    server_wait: float | None,
    rng: Callable[[], float],
) -> float:
    """Return how long to wait after the failed attempt number `attempt` (0-based), logged.

    Raise TransientError, saying what failed and why it stops, when no attempt is left, when the
    server asks for a wait longer than what is left of the budget, or when the backoff would
    outlast it.
    """
    attempts_done = attempt + 1
    remaining = policy.max_total_seconds - elapsed
    if attempts_done >= policy.max_attempts:
        raise TransientError(
            f"{what}: {failure}; gave up after {attempts_done} attempt(s) in {elapsed:.1f}s",
            status,
        )
    if server_wait is not None:
        if server_wait > remaining:
            raise TransientError(
                f"{what}: {failure}; the server asked to wait {server_wait:g}s, more than the "
                f"{max(remaining, 0):.1f}s left of the {policy.max_total_seconds:g}s retry "
                "budget; giving up",
                status,
            )
        delay = server_wait
    else:
        delay = policy.backoff(attempt, rng)
        if delay >= remaining:
            raise TransientError(
                f"{what}: {failure}; gave up after {attempts_done} attempt(s), the "
                f"{policy.max_total_seconds:g}s retry budget is used up",
                status,
            )
    logger.warning(
        "%s: attempt %d/%d failed (%s); retrying in %.2fs",
        what,
        attempts_done,
        policy.max_attempts,
        failure,
        delay,
        extra={"call": what, "attempt": attempts_done, "status": status, "delay": delay},
    )
    return delay


class Attempts:
    """The attempts of one logical call: the time each may take, the wait after each failure."""

    def __init__(
        self,
        policy: RetryPolicy,
        what: str,
        *,
        sleep: Callable[[float], object] = time.sleep,
        rng: Callable[[], float] = random.random,
        on_wait: Callable[[float], object] | None = None,
    ):
        self.policy, self.what = policy, what
        self.sleep, self.rng, self.on_wait = sleep, rng, on_wait
        self.started = time.monotonic()
        self.made = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def timeout(self) -> float:
        """Return the timeout of the next attempt; TransientError when no time is left for it."""
        remaining = self.policy.max_total_seconds - self.elapsed()
        if remaining <= 0:
            raise TransientError(
                f"{self.what}: gave up, the {self.policy.max_total_seconds:g}s retry budget is "
                f"used up after {self.made} attempt(s)"
            )
        return min(self.policy.timeout_seconds, remaining)

    def failed(self, failure: str, status: int | None = None, server_wait=None) -> None:
        """Wait before the next attempt, or raise TransientError when there is none."""
        delay = next_delay(
            self.policy,
            self.made,
            self.elapsed(),
            what=self.what,
            failure=failure,
            status=status,
            server_wait=server_wait,
            rng=self.rng,
        )
        wait(delay, self.sleep, self.on_wait)
        self.made += 1


def wait(seconds: float, sleep: Callable[[float], object], on_wait=None) -> None:
    """Wait seconds in slices of at most WAIT_SLICE_SECONDS, calling on_wait(left) before each."""
    left = seconds
    while True:
        if on_wait is not None:
            on_wait(left)
        step = min(left, WAIT_SLICE_SECONDS)
        sleep(step)
        left -= step
        if left <= 0:
            return


def parse_retry_after(value: str) -> float | None:
    """Read a Retry-After header: seconds, or an HTTP date (the wait until then); else None."""
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def body_retry_after(body) -> float | None:
    """Return Telegram's parameters.retry_after from a decoded JSON error body, or None."""
    parameters = body.get("parameters") if isinstance(body, dict) else None
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
