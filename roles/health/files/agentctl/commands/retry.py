"""`agentctl retry`: put a failed item back into the agent's inbox, recorded."""

import contextlib
import os

from ..agents import resolve_agent
from ..contract.files import fsync_directory, move_without_overwrite
from ..contract.layout import FAILED, INCOMING, sidecar_path
from ..errors import EXIT_OK, UsageError
from ..operators import record_action
from ..output import say
from ..redaction import REDACT
from .failed import failed_items


def command_retry(config: dict, args) -> int:
    agent = resolve_agent(config, args.agent)
    failed_dir = agent.state / FAILED
    items = failed_items(agent)
    matches = [i for i in items if args.item in (i["file"], i["item_id"])]
    if "/" in args.item or not matches:
        raise UsageError(
            f"{agent.slug} has no failed item {args.item!r}; see agentctl failed {agent.slug}"
        )
    if len(matches) > 1:
        raise UsageError(
            f"{args.item!r} names {len(matches)} failed items; give the file name instead"
        )
    item = matches[0]
    source = failed_dir / item["file"]
    incoming = agent.state / INCOMING
    if not incoming.is_dir():
        raise UsageError(f"{incoming} does not exist; has {agent.slug} ever started?")
    owner = agent.state.stat()
    target = move_without_overwrite(source, incoming, item["file"])
    # The agent owns its state directory; a fresh mtime makes the item count as new in the backlog.
    os.chown(target, owner.st_uid, owner.st_gid, follow_symlinks=False)
    os.utime(target, follow_symlinks=False)
    with contextlib.suppress(FileNotFoundError):
        sidecar_path(source).unlink()
    fsync_directory(failed_dir)
    record_action(
        config,
        "retry",
        agent=agent.slug,
        file=item["file"],
        item_id=item["item_id"],
        to=f"incoming/{target.name}",
        reason=REDACT(item["reason"]),
    )
    say(
        f"{agent.slug}: failed/{item['file']} is back in incoming/{target.name}; "
        f"follow it with: agentctl logs {agent.slug} -f"
    )
    return EXIT_OK
