"""The watchdog during a slow item: WATCHDOG=1 keeps flowing while one item runs within its limit,
and stops once the item is past it, so that systemd restarts an agent stuck where the item's own
clock cannot reach. The real `run` command, a real notify socket, kernel arrival times."""

import pytest

import notify_stub

pytestmark = pytest.mark.faults

SLOW_ITEM_SECONDS = 8
SLOW_WATCHDOG_USEC = 4_000_000  # pings wanted within 2 s: the keep-alive sends one every second
STUCK_WATCHDOG_USEC = 2_000_000
# Past its limit: ITEM_TIME_LIMIT_SECONDS=1 while an LLM call (which holds the item clock back,
# HTTP_MAX_TOTAL_SECONDS=1 at most for a real one) takes 15 s; the keep-alive gives up at 1 + 1 +
# its 10 s grace, some 3 s before the item ends.
STUCK_ITEM_SECONDS = 15
KEEPALIVE_BOUND_SECONDS = 1 + 1 + 10


def test_watchdog_during_a_slow_item(report, home, new_home, tmp_path):
    report.test = "watchdog during a slow item"
    report.tried = (
        f"one item holding the fake LLM {SLOW_ITEM_SECONDS}s under WATCHDOG_USEC=4s; one held "
        f"{STUCK_ITEM_SECONDS}s past ITEM_TIME_LIMIT_SECONDS=1 (HTTP_MAX_TOTAL_SECONDS=1)"
    )
    notify = notify_stub.NotifySocket(tmp_path / "watchdog.sock")
    try:
        slow = notify_stub.watch_a_slow_item(home, notify, SLOW_ITEM_SECONDS, SLOW_WATCHDOG_USEC)
        stuck_home = new_home()
        stuck_home.write_env(ITEM_TIME_LIMIT_SECONDS="1", HTTP_MAX_TOTAL_SECONDS="1")
        notify.messages.clear()
        stuck = notify_stub.watch_a_slow_item(
            stuck_home, notify, STUCK_ITEM_SECONDS, STUCK_WATCHDOG_USEC, ends_in="failed"
        )
    finally:
        notify.close()
    report.cases = len(slow.gaps) + len(stuck.gaps)
    report.losses = (home.files("done") != ["slow.txt"]) + (
        stuck_home.files("failed") != ["slow.txt"]
    )
    # The silence starts at the keep-alive's last ping; the loop pings again once the item ends.
    silent_from = max(p for p in stuck.pings if p < stuck.started + KEEPALIVE_BOUND_SECONDS + 1)
    pings_stopped = silent_from - stuck.started
    report.found = (
        f"largest gap {slow.largest_gap:.2f}s between pings during a "
        f"{slow.finished - slow.started:.1f}s item ({len(slow.pings)} pings); past its limit, "
        f"pings stopped {pings_stopped:.1f}s into a {stuck.finished - stuck.started:.1f}s item: "
        f"{stuck.largest_gap:.1f}s without a ping"
    )

    assert slow.largest_gap < SLOW_WATCHDOG_USEC / 1e6 / 2, slow.gaps
    assert KEEPALIVE_BOUND_SECONDS - 1 <= pings_stopped <= KEEPALIVE_BOUND_SECONDS + 1, stuck.pings
    assert stuck.largest_gap > STUCK_WATCHDOG_USEC / 1e6, "systemd would kill the stuck agent"
    assert report.losses == 0
