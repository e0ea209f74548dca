"""Health after a restart, through the real command line: what `health` says must not be forgotten.

Shared by the deployment tests and the fault suite's "health after restart" row.
"""

import json

UNPRICED_MODEL = "mystery-model-7b"  # in no price table: its calls cost null
OLD_FILE_AGE_SECONDS = 3 * 24 * 3600
JANE = "Patient: Jane Doe\nDate of birth: 1980-02-03\n"


def health_after_restart(home) -> dict:
    """Run the agent, restart it with nothing to do, then ask `health` in a third process.

    The first run makes an LLM call of unknown price that succeeds, and fails a file whose mtime
    is three days old (an empty file: refused at once). The second run is the restart: a new
    process with a new heartbeat. Then a fresh document waits, so the llm check counts. Return the
    health report by check name, with "exit" the command's exit status.
    """
    home.write_env(LLM_MODEL=UNPRICED_MODEL)
    home.drop("jane.txt", JANE)
    home.drop("old-empty.txt", "", age=OLD_FILE_AGE_SECONDS)
    for run in ("first run", "restart"):
        result = home.cli("once")
        if result.returncode != 0:
            raise AssertionError(f"{run}: exit {result.returncode}: {result.stderr[-2000:]}")
    home.drop("waiting.txt", JANE)
    result = home.cli("health")
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    checks["exit"] = result.returncode
    return checks


def problems(checks: dict) -> list[str]:
    """Return what the report gets wrong about the runs before it (empty when it remembers)."""
    found = []
    prices = checks["prices"]
    if prices["ok"] or UNPRICED_MODEL not in prices["detail"]:
        found.append(f"prices forgot {UNPRICED_MODEL}: {prices['detail']}")
    llm = checks["llm"]
    if not llm["ok"] or "never succeeded" in llm["detail"]:
        found.append(f"llm forgot the last success: {llm['detail']}")
    failures = checks["failures"]
    if failures["detail"] != "1 failed in the last 24 h" or failures["ok"]:
        found.append(f"failures not counted by when they failed: {failures['detail']}")
    if checks["exit"] != 1:
        found.append(f"health exited {checks['exit']}, not 1 (a problem)")
    return found
