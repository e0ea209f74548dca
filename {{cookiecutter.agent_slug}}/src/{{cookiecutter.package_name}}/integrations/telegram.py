"""Send notifications and alerts through the Telegram Bot API: the contract's client, as a notifier.

Text is escaped, so a document's `<` or `&` can never break the message or inject markup, and
split into parts Telegram accepts. A 429 waits as long as Telegram asks; a refused message (bad
token, unknown chat, bot blocked) is not retried; a group that became a supergroup is written to
under its new id, and the log says which TELEGRAM_CHAT_ID to set. The bot token is part of every
URL, so it is kept out of every message this module raises or logs.
"""

from collections.abc import Callable

from ..contract.retry import RetryPolicy
from ..contract.telegram import MAX_MESSAGE_CHARS, TelegramClient, split_message

__all__ = ["MAX_MESSAGE_CHARS", "TelegramNotifier", "split_message"]


class TelegramNotifier(TelegramClient):
    """Send plain text to one Telegram chat, with the agent's retry policy and watchdog pings."""

    def __init__(
        self,
        *,
        token: str,
        chat_id: str,
        api_base: str,
        policy: RetryPolicy,
        on_wait: Callable[[float], object] | None = None,
    ):
        super().__init__(token, chat_id, api_base, policy, on_wait=on_wait)

    def __repr__(self) -> str:
        return f"TelegramNotifier(chat_id={self.chat_id!r}, api_base={self.api_base!r})"
