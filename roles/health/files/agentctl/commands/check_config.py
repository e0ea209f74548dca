"""`agentctl check-config PATH`: validate a configuration file (the role's validate step)."""

from pathlib import Path

from ..config import load_config
from ..errors import EXIT_OK
from ..output import say


def command_check_config(_config: dict, args) -> int:
    config = load_config(Path(args.path))
    say(
        f"{args.path}: valid (admin group {config['admin_group']}, "
        f"reminders every {config['reminder_hours']} h)"
    )
    return EXIT_OK
