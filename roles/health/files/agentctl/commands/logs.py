"""`agentctl logs`: an agent's journal, or its log file."""

import os
import subprocess
import sys

from ..agents import resolve_agent
from ..errors import EXIT_OK, UsageError
from ..systemd import find_command


def command_logs(config: dict, args) -> int:
    agent = resolve_agent(config, args.agent)
    if args.file:
        if args.follow:
            tail = find_command("tail")
            # S606: tail by full path, an argument list, no shell.
            os.execv(  # noqa: S606
                tail,
                [tail, f"--lines={args.lines}", "--follow=name", "--retry", str(agent.log_file)],
            )
        try:
            with agent.log_file.open(encoding="utf-8", errors="replace") as handle:
                for line in list(handle)[-args.lines :]:
                    sys.stdout.write(line)
        except FileNotFoundError:
            raise UsageError(
                f"{agent.log_file} does not exist yet (the agent has not logged to a file)"
            ) from None
        return EXIT_OK
    journalctl = find_command("journalctl")
    argv = [journalctl, f"--unit={agent.unit}", f"--lines={args.lines}", "--no-pager"]
    if args.follow:
        sys.stdout.flush()
        # S606: journalctl by full path, an argument list, no shell.
        os.execv(journalctl, [*argv, "--follow"])  # noqa: S606
    # S603: journalctl by full path, an argument list, no shell.
    status = subprocess.run(argv, check=False).returncode  # noqa: S603
    if agent.log_file.exists():
        # The file keeps what the journal's size cap may already have dropped.
        sys.stderr.write(f"(older lines: agentctl logs {agent.slug} --file, {agent.log_file})\n")
    return status
