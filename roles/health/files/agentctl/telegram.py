"""Telegram for agentctl: the contract's client with agentctl's settings, and what a failed send
means for the message (kept for the next run, or dropped)."""

import html
import re

from .contract.errors import PermanentError, TransientError
from .contract.retry import RetryPolicy
from .contract.telegram import TelegramClient
from .errors import DeliveryError
from .output import logger

ATTEMPTS = 3
# Refusals of the bot or the chat (and a request that could not be made): settings to fix, after
# which the waiting messages can go.
SETTINGS_REFUSALS = frozenset({401, 403, 404, None})


def telegram_client(config: dict, token: str) -> TelegramClient | None:
    """Return a client for the configured chat, or None when Telegram is not configured."""
    if not (token and config["telegram_chat_id"]):
        return None
    logger.setup()  # the contract's modules log through agentctl's logger (retries, migration)
    timeout = config["telegram_timeout_seconds"]
    policy = RetryPolicy(
        max_attempts=ATTEMPTS,
        # One request's time, and the wait Telegram's rate limit (429 retry_after) may ask for.
        max_total_seconds=timeout + config["telegram_max_wait_seconds"],
        timeout_seconds=timeout,
    )
    return TelegramClient(token, config["telegram_chat_id"], config["telegram_api_base"], policy)


def send(client: TelegramClient, markup: str) -> None:
    """Deliver one message of the outbox, or raise DeliveryError saying whether to keep it."""
    try:
        try:
            client.send_html(markup)
        except PermanentError as error:
            if error.status_code != 400 or "parse" not in (error.detail or "").lower():
                raise
            # Telegram could not parse our markup: the text still matters more than the looks.
            logger.warning("Telegram refused the markup (%s); sending as plain text", error)
            client.send(html_to_text(markup))
    except TransientError as error:
        raise DeliveryError(
            f"Telegram unreachable ({error}); kept for the next run", True
        ) from None
    except PermanentError as error:
        if error.status_code in SETTINGS_REFUSALS:
            raise DeliveryError(
                f"Telegram refused the bot or chat ({error}): check the token in the secret file "
                "and telegram_chat_id; kept for the next run",
                True,
            ) from None
        raise DeliveryError(f"Telegram refused the message ({error})", False) from None
    if client.migrated_to:
        logger.warning(
            "The Telegram chat became the supergroup %s: set health_telegram_chat_id to it and "
            "re-run the health role",
            client.migrated_to,
        )


def html_to_text(markup: str) -> str:
    """Return what a Telegram HTML message reads as, for a terminal or the journal."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))
