"""Where an agent's state is: the checks that a state directory is there, or can be made.

Commands that only read import this module and not the inbox: it costs pathlib and the layout.
"""

from pathlib import Path

from .. import AGENT_SLUG
from ..contract.layout import DATABASE_FILE, STATE_FOLDERS

WHERE_STATE_COMES_FROM = "check --state-dir or STATE_DIRECTORY"


class AlreadyRunning(Exception):
    """Another agent process owns this state directory."""


class StateDirError(Exception):
    """The state directory is missing or cannot be made; the message says why and how to fix it."""


def check_existing_state(root: Path) -> None:
    """Raise StateDirError unless root holds an agent's state.

    Commands that only read never make one, so a mistyped path is reported instead of being read as
    an agent with no costs, an intact audit log and nothing to review.
    """
    if root.is_dir() and (root / DATABASE_FILE).is_file():
        return
    if not root.exists():
        why = "the directory does not exist"
    elif not root.is_dir():
        why = "it is a file, not a directory"
    else:
        why = f"the directory holds no {DATABASE_FILE}, so the agent never ran with it"
    raise StateDirError(
        f"no agent state at {root}: {why}; {WHERE_STATE_COMES_FROM}, or run "
        f"`{AGENT_SLUG} once` to create it"
    )


def create_state_dir(root: Path) -> None:
    """Make root and its folders; its parent must exist (a missing one means a mistyped path)."""
    if root.exists() and not root.is_dir():
        raise StateDirError(
            f"cannot use {root} as the state directory: it is a file, not a directory; "
            f"{WHERE_STATE_COMES_FROM}"
        )
    if not root.parent.is_dir():
        raise StateDirError(
            f"cannot create the state directory {root}: its parent {root.parent} "
            f"{'is not a directory' if root.parent.exists() else 'does not exist'}; "
            f"{WHERE_STATE_COMES_FROM}, or create the parent first"
        )
    for folder in (root, *(root / name for name in STATE_FOLDERS)):
        try:
            folder.mkdir(exist_ok=True, mode=0o750)
        except FileExistsError:
            raise StateDirError(
                f"cannot create {folder}: a file of that name is in the way; move it elsewhere"
            ) from None
        except OSError as error:
            raise StateDirError(
                f"cannot create {folder}: {error.strerror}; {WHERE_STATE_COMES_FROM}"
            ) from None
