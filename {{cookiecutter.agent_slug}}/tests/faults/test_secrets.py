"""Secrets: with distinctive key and token values, nothing the agent writes or says contains them.

The whole pipeline runs as the real command line against the stand-ins, through failures chosen
to tempt a leak: APIs that echo the key in their error bodies (401, 500, 429), Telegram errors that
echo the bot token, a wrong key, both services down. Then every place a secret could end up is
scanned: stdout, stderr, the log file, the audit log, cost records, results, sidecars, heartbeat,
alerts, the database, every message the Telegram stand-in received, every request body the LLM
stand-in received, and the texts, reprs and tracebacks of the exceptions the integrations raise.
"""

import json
import traceback
import urllib.parse

import pytest
import rig

import stubs
from {{ cookiecutter.package_name }}.integrations.llm import LLMError, make_provider
from {{ cookiecutter.package_name }}.reliability.http import PermanentError, RetryPolicy, TransientError

pytestmark = pytest.mark.faults

MARKER = "LEAKCHECK"  # appears in the secrets and nowhere else
LLM_KEY = f"sk-pillars-{MARKER}-llm-7f3a9c2e51d04b6b9d2a"
WRONG_KEY = f"sk-pillars-{MARKER}-wrong-0c1d2e3f4a5b6c7d"
BOT_TOKEN = f"7306549812:AAF-{MARKER}-bot-Qx9Zr2Lm4Tn8Vb3Kc"
SECRETS = (LLM_KEY, WRONG_KEY, BOT_TOKEN)
FAST = {"HTTP_TIMEOUT_SECONDS": "0.5", "HTTP_MAX_TOTAL_SECONDS": "10", "HTTP_MAX_ATTEMPTS": "2"}
POLICY = RetryPolicy(
    max_attempts=2, max_total_seconds=5, timeout_seconds=0.5, base_delay_seconds=0.01
)


def forms(secret: str) -> set[str]:
    """Return the ways a secret may be written: as is, URL-quoted, JSON-escaped, its token half."""
    found = {secret, urllib.parse.quote(secret, safe=""), json.dumps(secret)[1:-1], MARKER}
    if ":" in secret:
        found.add(secret.split(":", 1)[1])
    return found


def hits(text: str) -> list[str]:
    return sorted({form for secret in SECRETS for form in forms(secret) if form in text})


def written(home) -> dict[str, str]:
    """Return every file the agent wrote (state directory and log file), as text."""
    files = {str(home.root / "agent.log"): (home.root / "agent.log").read_bytes()}
    for path in home.state.rglob("*"):
        if path.is_file() and path.parent.name != "archive":  # archive: the inputs, as received
            files[str(path.relative_to(home.root))] = path.read_bytes()
    return {name: data.decode("utf-8", "replace") for name, data in files.items()}


def exception_texts(llm, telegram) -> dict[str, str]:
    """Make the integrations fail on the secrets and return what their exceptions say."""
    texts = {}

    def keep(label: str, call) -> None:
        try:
            call()
        except (LLMError, PermanentError, TransientError) as error:
            texts[label] = "\n".join(
                [str(error), repr(error), "".join(traceback.format_exception(error))]
            )
        else:
            texts[label] = f"{label}: no exception"

    for provider in rig.PROVIDERS:
        base = llm.anthropic_base if provider == "anthropic" else llm.openai_base
        client = make_provider(provider, api_key=LLM_KEY, base_url=base, policy=POLICY)
        texts[f"repr of the {provider} provider"] = repr(client)
        for code, attempts in ((401, 1), (500, POLICY.max_attempts)):
            llm.push(*[stubs.status(code, message=f"key {LLM_KEY} refused")] * attempts)

            def ask(client=client, provider=provider):
                client.complete(system="s", prompt="p", model=rig.MODELS[provider], max_tokens=5)

            keep(f"{provider} HTTP {code} echoing the key", ask)
        down = make_provider(
            provider, api_key=LLM_KEY, base_url="http://127.0.0.1:9", policy=POLICY
        )
        keep(
            f"{provider} unreachable",
            lambda down=down, provider=provider: down.complete(
                system="s", prompt="p", model=rig.MODELS[provider], max_tokens=5
            ),
        )
    if rig.HAS_TELEGRAM:
        from {{ cookiecutter.package_name }}.integrations.telegram import TelegramNotifier

        def notifier(api_base):
            return TelegramNotifier(
                token=BOT_TOKEN, chat_id=stubs.TELEGRAM_CHAT_ID, api_base=api_base, policy=POLICY
            )

        texts["repr of the Telegram notifier"] = repr(notifier(telegram.api_base))
        for code, attempts in ((400, 1), (401, 1), (502, POLICY.max_attempts)):
            telegram.push(*[stubs.status(code, message=f"Bad token bot{BOT_TOKEN}")] * attempts)
            keep(
                f"Telegram HTTP {code} echoing the token",
                lambda: notifier(telegram.api_base).send("x"),
            )
        keep("Telegram unreachable", lambda: notifier("http://127.0.0.1:9").send("x"))
    return texts


def test_no_secret_in_anything_the_agent_writes_or_says(report, home, tmp_path):
    report.test = "secrets"
    runs = {}
    with (
        stubs.LLMStub(api_key=LLM_KEY, responder=rig.extracting) as llm,
        stubs.TelegramStub(token=BOT_TOKEN) as telegram,
    ):
        settings = {"LOG_FILE": str(home.root / "agent.log"), "LOG_LEVEL": "DEBUG", **FAST}
        use_telegram = telegram if rig.HAS_TELEGRAM else None

        # 1. Samples, through APIs that echo the secrets in their error bodies.
        rig.configure(home, llm, use_telegram, **settings)
        home.drop_samples()
        llm.push(
            stubs.status(500, message=f"upstream error for key {LLM_KEY}"),
            stubs.status(429, retry_after=0, message=f"slow down, Bearer {LLM_KEY}"),
        )
        telegram.push(
            stubs.status(500, message=f"internal error at /bot{BOT_TOKEN}/sendMessage"),
            stubs.status(400, message=f"Bad Request: chat not found for bot{BOT_TOKEN}"),
            stubs.telegram_429(0),
        )
        runs["echoing APIs"] = home.cli("once")
        # 2. A key the API refuses, echoed back in its 401.
        home.write_env(LLM_API_KEY=WRONG_KEY)
        home.drop("wrong-key.txt", "Patient: Chidi Okafor\n")
        llm.push(stubs.status(401, message=f"Incorrect API key provided: {WRONG_KEY}"))
        runs["wrong key echoed"] = home.cli("once")
        # 3. Telegram down, then 4. the LLM down.
        home.write_env(LLM_API_KEY=LLM_KEY, TELEGRAM_API_BASE="http://127.0.0.1:9")
        home.drop("telegram-down.txt", "Patient: Youssef Benali\nDocument type: invoice\n")
        runs["Telegram down"] = home.cli("once")
        home.write_env(LLM_BASE_URL="http://127.0.0.1:9")
        home.drop("llm-down.txt", "Patient: Jane Doe\nDocument type: lab\n")
        runs["LLM down"] = home.cli("once")
        # 5. What the operator's commands print.
        for command in (("status",), ("costs", "--json"), ("audit", "verify"), ("health",)):
            runs[" ".join(command)] = home.cli(*command)
        raised = exception_texts(llm, telegram)
        sinks = {f"{name} (output)": run.stdout + run.stderr for name, run in runs.items()}
        sinks |= written(home)
        sinks |= {f"Telegram message {n}": text for n, text in enumerate(telegram.texts)}
        sinks |= {
            f"Telegram request {n} body": request.body.decode("utf-8", "replace")
            for n, request in enumerate(telegram.requests)
        }
        sinks |= {
            f"LLM request {n} body": request.body.decode("utf-8", "replace")
            for n, request in enumerate(llm.requests)
        }
        sinks |= {f"exception: {label}": text for label, text in raised.items()}
        messages = len(telegram.texts)

    leaks = {name: hits(text) for name, text in sinks.items() if hits(text)}
    report.tried = (
        f"{len(runs)} command runs (APIs echoing the key and token in 401/429/500 bodies, a "
        f"wrong key, Telegram down, the LLM down, status/costs/audit/health) and "
        f"{len(raised)} exceptions raised on purpose; scanned for each secret as is, URL-quoted, "
        "JSON-escaped and by its marker"
    )
    report.cases = len(sinks)
    report.leaks = sum(len(found) for found in leaks.values())
    report.found = (
        f"{len(sinks)} places scanned ({sum(len(t) for t in sinks.values()) // 1024} kB, "
        f"{messages} Telegram messages among them): {report.leaks} hits"
    )
    problems = [f"{name}: {found}" for name, found in leaks.items()]
    problems += [
        f"{name}: exit code {run.returncode}"
        for name, run in runs.items()
        if run.returncode not in (0, 1) or "Traceback" in run.stderr
    ]
    assert problems == []
    # The failures happened: the echoing bodies were sent, and the agent said so (redacted).
    assert any("[REDACTED]" in text for text in sinks.values())
