"""The Bot API methods of an interactive bot, on the contract's Telegram client.

    BotClient(token, chat_id, api_base=DEFAULT_API_BASE, policy=RetryPolicy(), ...)  a
    TelegramClient (same retries, 429 retry_after, permanent refusals, token kept out of text):
        .get_updates(offset, timeout=0, allowed=("message", "callback_query")) -> list[dict]
                    long polling: waits up to timeout seconds for updates numbered offset or
                    later; asking with an offset confirms every update before it
        .send_message(markup, chat_id=None, buttons=None) -> dict   one HTML message, with an
                    inline keyboard (rows of (label, callback data)); returns the Message
        .edit_message_text(chat_id, message_id, markup, buttons=None) -> dict
        .answer_callback_query(callback_query_id, text="", alert=False) -> None
    keyboard(rows) -> dict          an InlineKeyboardMarkup; callback data of at most 64 bytes

A 409 raises ConflictError (another poller or a webhook takes the updates); a 403 on a send is
PermanentError 403 (the user blocked the bot, or it left the chat). A 400 "message is not
modified" on editMessageText is no failure: the message already says it.
"""

from .errors import PermanentError, TransientError
from .telegram import ConflictError, TelegramClient

__all__ = ["MAX_CALLBACK_DATA_BYTES", "BotClient", "ConflictError", "keyboard"]

MAX_CALLBACK_DATA_BYTES = 64
MAX_NOTICE_CHARS = 200


class BotClient(TelegramClient):
    """A Telegram client that also reads updates, sends buttons and answers their presses."""

    def get_updates(
        self, offset: int | None, timeout: int = 0, allowed=("message", "callback_query")
    ) -> list[dict]:
        """Return the updates numbered offset or later, waiting up to timeout seconds for one.

        Asking with an offset confirms every update before it: Telegram never sends those again.
        """
        body = {"timeout": int(timeout), "allowed_updates": list(allowed)}
        if offset is not None:
            body["offset"] = int(offset)
        result = self._call("getUpdates", body, extra_timeout=int(timeout))["result"]
        if not isinstance(result, list):
            raise TransientError("telegram getUpdates: the answer holds no list of updates")
        return [update for update in result if isinstance(update, dict)]

    def send_message(
        self, markup: str, chat_id: str | None = None, buttons: list | None = None
    ) -> dict:
        """Send one HTML message (at most MAX_MESSAGE_CHARS), with buttons; return the Message."""
        body = self._message(markup, chat_id)
        if buttons:
            body["reply_markup"] = keyboard(buttons)
        return self._call("sendMessage", body, migrate=chat_id is None)["result"]

    def edit_message_text(
        self, chat_id: str, message_id: int, markup: str, buttons: list | None = None
    ) -> dict:
        """Replace a message's text (and keyboard: none unless buttons are given)."""
        body = self._message(markup, chat_id)
        body["message_id"] = int(message_id)
        body["reply_markup"] = keyboard(buttons or [])
        try:
            return self._call("editMessageText", body)["result"]
        except PermanentError as error:
            if error.status_code == 400 and "not modified" in (error.detail or ""):
                return {}
            raise

    def answer_callback_query(self, callback_id: str, text: str = "", alert: bool = False):
        """Answer a button press: a short notice (at most MAX_NOTICE_CHARS) on the user's screen."""
        body = {
            "callback_query_id": callback_id,
            "text": text[:MAX_NOTICE_CHARS],
            "show_alert": alert,
        }
        self._call("answerCallbackQuery", body)


def keyboard(buttons: list) -> dict:
    """Return an InlineKeyboardMarkup from rows of (label, callback data) pairs.

    Callback data travels back in a press as it is: at most MAX_CALLBACK_DATA_BYTES in UTF-8.
    """
    rows = []
    for row in buttons:
        keys = []
        for label, data in row:
            if len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                raise ValueError(f"callback data longer than {MAX_CALLBACK_DATA_BYTES} bytes")
            keys.append({"text": label, "callback_data": data})
        rows.append(keys)
    return {"inline_keyboard": rows}
