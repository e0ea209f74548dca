"""The effect queue: each effect queued once per key, delivered, marked sent; failures retried."""

import json
import time

import pytest

from {{ cookiecutter.package_name }}.observability.audit import AuditLog
from {{ cookiecutter.package_name }}.reliability import effects
from {{ cookiecutter.package_name }}.reliability.http import PermanentError, TransientError
from {{ cookiecutter.package_name }}.security.db import Database


class Channel:
    """Accepts messages, or refuses the next ones with the errors it is given."""

    name = "test"

    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.texts: list[str] = []
        self.tries = 0

    def send(self, text: str) -> None:
        self.tries += 1
        if self.failures:
            raise self.failures.pop(0)
        self.texts.append(text)


@pytest.fixture
def queue(tmp_path):
    db = Database(tmp_path / "agent.db")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    audit = AuditLog(tmp_path / "audit.jsonl")
    yield db, audit, effects.Sender(db, outbox)
    db.close()


def actions(audit: AuditLog) -> list[str]:
    return [json.loads(line)["action"] for line in audit.path.read_text().splitlines()]


def test_an_effect_is_queued_once_per_key_and_delivered_once(queue):
    db, audit, sender = queue
    message = effects.message("item-1:1:done", "item-1", "ready [item item-1]")
    db.queue_effects((message,))
    db.queue_effects((effects.message("item-1:1:done", "item-1", "another text"),))
    channel = Channel()
    assert sender.deliver(audit, channel) == 1
    assert sender.deliver(audit, channel) == 0
    assert channel.texts == ["ready [item item-1]"]
    row = db.effect("item-1:1:done")
    assert (row["status"], row["tries"]) == ("sent", 1)
    assert actions(audit) == ["notification.sent"]


def test_a_failed_send_waits_with_a_growing_jittered_delay_then_is_given_up(queue, monkeypatch):
    db, audit, sender = queue
    db.queue_effects((effects.message("alert:budget:2026-12-01", None, "budget"),))
    channel = Channel(*[TransientError("Telegram unreachable")] * effects.MAX_TRIES)
    delays = []
    for tries in range(1, effects.MAX_TRIES + 1):
        before = time.time()
        assert sender.deliver(audit, channel) == 0
        row = db.effect("alert:budget:2026-12-01")
        if tries < effects.MAX_TRIES:
            delays.append(row["next_try"] - before)
            ceiling = min(effects.MAX_RETRY_SECONDS, effects.FIRST_RETRY_SECONDS * 2 ** (tries - 1))
            assert ceiling / 2 - 1 <= delays[-1] <= ceiling + 1
            monkeypatch.setattr(effects.time, "time", lambda at=row["next_try"]: at)
    assert (row["status"], row["tries"]) == ("given up", effects.MAX_TRIES)
    assert len(set(delays)) == len(delays)  # jittered: no two waits alike
    assert sender.deliver(audit, Channel()) == 0  # never tried again
    failed = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert [e["detail"].get("gave_up", False) for e in failed][-1] is True
    assert len(failed) == effects.MAX_TRIES


def test_a_permanent_error_gives_up_at_once(queue):
    db, audit, sender = queue
    db.queue_effects((effects.message("item-2:1:review", "item-2", "review"),))
    sender.deliver(audit, Channel(PermanentError("chat not found")))
    assert db.effect("item-2:1:review")["status"] == "given up"


def test_one_failed_send_leaves_the_other_messages_for_the_next_pass(queue):
    db, audit, sender = queue
    db.queue_effects(
        tuple(effects.message(f"item-{n}:1:done", f"item-{n}", f"m{n}") for n in range(5))
    )
    channel = Channel(TransientError("timed out"))
    sender.deliver(audit, channel)
    assert channel.tries == 1  # not five times the HTTP timeout in one pass
    assert [row["key"] for row in db.due_effects(time.time())] == [
        f"item-{n}:1:done" for n in range(1, 5)
    ]


def test_a_result_is_created_once_and_an_existing_one_is_never_replaced(queue, tmp_path):
    db, audit, sender = queue
    result = effects.result_file("item-3", {"item_id": "item-3", "person": {"id": 7}})
    db.queue_effects((result,))
    sender.deliver(audit, Channel())
    written = tmp_path / "outbox" / "item-3.json"
    assert json.loads(written.read_text())["person"] == {"id": 7}
    assert actions(audit) == ["outbox.written"]

    # As if a delivery had written it and died before marking it sent: kept, not written again.
    db.connection.execute("UPDATE effects SET status = 'pending'")
    written.write_text('{"written": "before"}\n')
    sender.deliver(audit, Channel())
    assert written.read_text() == '{"written": "before"}\n'
    assert db.effect("item-3:result")["status"] == "sent"
    assert actions(audit) == ["outbox.written"]


def test_a_result_is_named_only_once_its_record_is_synced_and_never_replaced(tmp_path):
    path = tmp_path / "0123456789abcdef.json"
    named_at_record = []

    def settle(sync_data):
        named_at_record.append(path.exists())
        sync_data()  # the result's own content, synced with the record
        named_at_record.append(path.exists())

    effects.create_results([(path, b'{"first": 1}\n')], settle)
    effects.create_results([(path, b'{"second": 2}\n')], settle)

    assert named_at_record == [False, False, True, True]
    assert path.read_bytes() == b'{"first": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_a_result_is_marked_sent_once_its_name_is_synced_with_the_next_message_s_entry(
    queue, tmp_path, monkeypatch
):
    db, audit, sender = queue
    db.queue_effects(
        (
            effects.result_file("item-4", {"item_id": "item-4"}),
            effects.message("item-4:1:done", "item-4", "ready [item item-4]"),
        )
    )
    batches = []

    def settle(*syncs):
        # What each sync point issues together, and what was marked sent before it.
        batches.append((len(syncs), actions(audit)[-1], db.effect("item-4:result")["status"]))
        for sync in (audit.sync, *syncs):
            sync()

    folders = []
    monkeypatch.setattr(effects, "fsync_directory", folders.append)
    channel = Channel()
    assert sender.deliver(audit, channel, settle) == 2

    assert channel.texts == ["ready [item item-4]"]
    assert folders == [tmp_path / "outbox"]
    # The result's content with its entry; the message's entry with the outbox folder, and the
    # result marked sent only after that.
    assert [(count, action) for count, action, _ in batches if count] == [
        (1, "outbox.written"),
        (1, "notification.sent"),
    ]
    assert all(status == "pending" for _, _, status in batches)
    assert db.effect("item-4:result")["status"] == "sent"
    assert db.effect("item-4:1:done")["status"] == "sent"
    assert (tmp_path / "outbox" / "item-4.json").exists()
