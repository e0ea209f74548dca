"""Send notifications and alerts through the Telegram Bot API (`sendMessage`, HTML mode).

Text is escaped, so a document's `<` or `&` can never break the message or inject markup, and
split into parts Telegram accepts. A 429 waits as long as Telegram asks (through reliability.http);
a refused message (bad token, unknown chat, bot blocked) is not retried. The bot token is part of
every URL, so it is kept out of every message this module raises or logs.
"""

import html
import logging
from collections.abc import Callable

import requests

from ..reliability.http import PermanentError, RetryPolicy, TransientError, request

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
WHAT = "telegram sendMessage"
# An escaped text holds only these entities; a split must not fall inside one.
LONGEST_ENTITY = len("&amp;")
# Below this share of a full part, a line break is too early to split at.
MIN_LINE_SPLIT_RATIO = 0.5
HINTS = {
    401: "check TELEGRAM_BOT_TOKEN",
    403: "check that the bot is a member of the chat and may write there",
    404: "check TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE",
}
REDACTED = "[REDACTED]"


class TelegramNotifier:
    """Send plain text to one Telegram chat."""

    def __init__(
        self,
        *,
        token: str,
        chat_id: str,
        api_base: str,
        policy: RetryPolicy,
        session: requests.Session | None = None,
        on_wait: Callable[[float], object] | None = None,
    ):
        if not token or not chat_id:
            raise PermanentError(
                "Telegram needs both TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID; set them in .env"
            )
        self._token = token
        self.chat_id = chat_id
        self.api_base = api_base.rstrip("/")
        self.policy = policy
        self.session = session or requests.Session()
        self.on_wait = on_wait

    def __repr__(self) -> str:
        return f"TelegramNotifier(chat_id={self.chat_id!r}, api_base={self.api_base!r})"

    def send(self, text: str) -> None:
        """Send `text` as one or more messages; raise TransientError or PermanentError."""
        parts = [part for part in split_message(html.escape(text, quote=False)) if part.strip()]
        for number, part in enumerate(parts, start=1):
            self._send_part(part)
            logger.debug("%s: sent part %d/%d (%d chars)", WHAT, number, len(parts), len(part))

    def _send_part(self, part: str) -> None:
        body = {
            "chat_id": self.chat_id,
            "text": part,
            "parse_mode": "HTML",
            # link_preview_options replaced disable_web_page_preview in Bot API 7.0; servers of
            # either age understand one of the two.
            "link_preview_options": {"is_disabled": True},
            "disable_web_page_preview": True,
        }
        try:
            response = request(
                self.session,
                "POST",
                f"{self.api_base}/bot{self._token}/sendMessage",
                policy=self.policy,
                what=WHAT,
                on_wait=self.on_wait,
                secrets=(self._token,),
                json=body,
            )
        except PermanentError as error:
            hint = HINTS.get(error.status_code)
            if error.status_code == 400 and "chat" in (error.detail or "").lower():
                hint = "check TELEGRAM_CHAT_ID"
            message = self._hide(str(error)) + (f"; {hint}" if hint else "")
            raise PermanentError(message, error.status_code, error.detail) from None
        except TransientError as error:
            raise TransientError(self._hide(str(error)), error.status_code) from None
        try:
            answer = response.json()
        except ValueError:
            raise TransientError(f"{WHAT}: the answer is not JSON") from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise TransientError(f"{WHAT}: the answer does not say ok")

    def _hide(self, text: str) -> str:
        return text.replace(self._token, REDACTED)


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split escaped text into parts of at most `limit` characters that join back to `text`.

    A part ends at the last line break when there is one in its second half, and never inside an
    HTML entity. Length is counted in UTF-16 code units, as Telegram counts it, so a part full of
    emoji is not refused.
    """
    parts = []
    rest = text
    while _utf16_len(rest) > limit:
        cut = _longest_prefix(rest, limit)
        entity_start = rest.rfind("&", max(0, cut - LONGEST_ENTITY + 1), cut)
        if entity_start > 0 and ";" not in rest[entity_start:cut]:
            cut = entity_start
        line_end = rest.rfind("\n", 0, cut)
        if line_end != -1 and line_end + 1 >= cut * MIN_LINE_SPLIT_RATIO:
            cut = line_end + 1
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        parts.append(rest)
    return parts


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _longest_prefix(text: str, limit: int) -> int:
    """Return how many characters of text fit in `limit` UTF-16 code units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)
