"""The Telegram Bot API's sendMessage over urllib, for the agent's notices and agentctl's alerts.

    TelegramClient(token, chat_id, api_base=DEFAULT_API_BASE, policy=RetryPolicy(), *,
                   sleep=time.sleep, rng=random.random, on_wait=None)
        .send(text) -> int          plain text: escaped, split, sent; returns the parts sent
        .send_html(markup) -> int   Telegram HTML (<b>, <code>...): split and sent as is
        .chat_id                    the chat in use: the new one after a migration
        .migrated_to                the new chat id when the group became a supergroup, else None
    split_message(markup, limit=MAX_MESSAGE_CHARS) -> list[str]
    telegram_length(markup) -> int  the length Telegram checks: UTF-16 units of the parsed text
    escape(text) -> str             what makes any text safe in HTML mode

Failures raise contract.errors: PermanentError for a refusal no retry can fix (400, 401, 403, 404;
the message says which setting to check), TransientError once the retries or the time budget are
used up (timeouts, connection errors, 408, 429, 5xx, with full-jitter backoff). A 429 waits as
long as its parameters.retry_after says, or gives up at once when that does not fit in the budget.
A 400 with parameters.migrate_to_chat_id (a group upgraded to a supergroup) is sent again, once,
to the new chat, and the new id is kept in .chat_id and .migrated_to for the caller to save.
A 409 (another getUpdates poller, or a webhook, uses the same token) raises ConflictError, a
PermanentError. Every Bot API method goes through ._call(method, body); botapi adds the bot's.
The bot token is part of every URL: no message, log line or repr ever holds it.
"""

import html
import http.client
import json
import logging
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from .errors import PermanentError, TransientError
from .redact import Redactor
from .retry import Attempts, RetryPolicy, body_retry_after, parse_retry_after

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.telegram.org"
MAX_MESSAGE_CHARS = 4096
WHAT = "telegram sendMessage"
CONFLICT = 409
RETRYABLE_STATUSES = frozenset({408, 429})
FIRST_SERVER_ERROR = 500
MAX_DETAIL_CHARS = 200
HINTS = {
    401: "check TELEGRAM_BOT_TOKEN",
    403: "check that the bot is a member of the chat and may write there",
    409: "another getUpdates poller or a webhook uses this bot token; stop it (deleteWebhook)",
    404: "check TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE",
}
# A part is cut between these tokens only: a tag, an entity, or one character.
TOKEN = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);|.", re.DOTALL)
# Below this share of a full part, a line break is too early to split at.
MIN_LINE_SPLIT_RATIO = 0.5


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _token_units(token: str) -> int:
    if token.startswith("<") and len(token) > 1:
        return 0
    if token.startswith("&") and len(token) > 1:
        return _units(html.unescape(token))
    return _units(token)


def telegram_length(markup: str) -> int:
    """Return the length Telegram limits: UTF-16 code units of the text once tags are parsed."""
    return sum(_token_units(token) for token in TOKEN.findall(markup))


def split_message(markup: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split markup into parts Telegram accepts (telegram_length <= limit) that join back to it.

    A part never ends inside a tag or an entity, and ends after the last line break of its
    second half when there is one; keep each element on one line and no part breaks its markup.
    """
    parts, start, units = [], 0, 0
    cut = line_cut = None  # end of the last token that fits, and of the last line break
    for match in TOKEN.finditer(markup):
        size = _token_units(match.group())
        if units + size > limit and cut is not None:
            if line_cut is not None:
                cut = line_cut
            parts.append(markup[start:cut])
            start = cut
            units = telegram_length(markup[start : match.start()])
            line_cut = None
        units += size
        cut = match.end()
        if match.group() == "\n" and units >= limit * MIN_LINE_SPLIT_RATIO:
            line_cut = cut
    if start < len(markup):
        parts.append(markup[start:])
    return parts


class ConflictError(PermanentError):
    """Telegram answered 409: another poller or a webhook already takes this bot's updates."""


class TelegramClient:
    """Send messages to one Telegram chat."""

    def __init__(
        self,
        token: str,
        chat_id: str,
        api_base: str = DEFAULT_API_BASE,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], object] = time.sleep,
        rng: Callable[[], float] = random.random,
        on_wait: Callable[[float], object] | None = None,
    ):
        if not token or not chat_id:
            raise PermanentError(
                "Telegram needs both TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID; set them in .env"
            )
        self._token = token
        self._hide = Redactor([token])
        self.chat_id = str(chat_id)
        self.migrated_to: str | None = None
        self.api_base = api_base.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.sleep, self.rng, self.on_wait = sleep, rng, on_wait

    def __repr__(self) -> str:
        return f"TelegramClient(chat_id={self.chat_id!r}, api_base={self.api_base!r})"

    def send(self, text: str) -> int:
        """Send plain text, escaped, as one or more messages; return how many were sent."""
        return self.send_html(escape(text))

    def send_html(self, markup: str) -> int:
        """Send Telegram HTML as one or more messages; return how many were sent."""
        parts = [part for part in split_message(markup) if part.strip()]
        for number, part in enumerate(parts, start=1):
            self._send_part(part)
            logger.debug("%s: sent part %d/%d (%d chars)", WHAT, number, len(parts), len(part))
        return len(parts)

    def _send_part(self, part: str) -> dict:
        return self._call("sendMessage", self._message(part), migrate=True)

    def _message(self, markup: str, chat_id: str | None = None) -> dict:
        return {
            "chat_id": chat_id or self.chat_id,
            "text": markup,
            "parse_mode": "HTML",
            # link_preview_options replaced disable_web_page_preview in Bot API 7.0; servers of
            # either age understand one of the two.
            "link_preview_options": {"is_disabled": True},
            "disable_web_page_preview": True,
        }

    def _call(self, method: str, body: dict, *, extra_timeout: float = 0, migrate=False) -> dict:
        what = f"telegram {method}"
        attempts = Attempts(self.policy, what, sleep=self.sleep, rng=self.rng, on_wait=self.on_wait)
        migrated = False
        while True:
            status, answer, server_wait, failure = self._post(
                method, body, attempts.timeout() + extra_timeout
            )
            if status is not None and status < 300:
                return self._result(answer, what)
            new_chat = _migrate_to(answer) if status == 400 and migrate else None
            if new_chat and not migrated:
                logger.warning(
                    "%s: chat %s became the supergroup %s; sending there (set TELEGRAM_CHAT_ID=%s)",
                    what,
                    self.chat_id,
                    new_chat,
                    new_chat,
                )
                self.chat_id = self.migrated_to = new_chat
                body = {**body, "chat_id": new_chat}
                migrated = True
                continue
            detail = self._detail(answer)
            if (
                status is not None
                and status not in RETRYABLE_STATUSES
                and status < FIRST_SERVER_ERROR
            ):
                raise self._refusal(status, detail, what)
            if status is not None:
                failure = f"HTTP {status}" + (f" ({detail})" if detail else "")
            attempts.failed(failure, status, server_wait)

    def _post(self, method: str, body: dict, timeout: float):
        """Call once; return (status or None, decoded body, server's wait, failure text)."""
        what = f"telegram {method}"
        try:
            # S310: the API base comes from the root-owned settings, not from a document.
            request = urllib.request.Request(  # noqa: S310
                f"{self.api_base}/bot{self._token}/{method}",
                data=json.dumps(body).encode("utf-8"),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
        except ValueError:
            raise PermanentError(f"{what}: request not sent (bad TELEGRAM_API_BASE)") from None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, _decode(response.read()), None, ""
        except urllib.error.HTTPError as error:
            with error:
                answer = _decode(error.read())
                header = error.headers.get("Retry-After") if error.headers else None
            waits = [
                w
                for w in (body_retry_after(answer), header and parse_retry_after(header))
                if w is not None
            ]
            return error.code, answer, max(waits) if waits else None, ""
        except TimeoutError as error:
            return None, None, None, f"timeout ({type(error).__name__})"
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                return None, None, None, f"timeout ({type(reason).__name__})"
            if isinstance(reason, str) or not isinstance(reason, OSError):
                raise PermanentError(f"{what}: request not sent (bad TELEGRAM_API_BASE)") from None
            return None, None, None, f"connection failed ({type(reason).__name__})"
        except (OSError, ValueError, http.client.HTTPException) as error:
            # A connection reset or an answer cut short: the network may recover.
            return None, None, None, f"connection failed ({type(error).__name__})"

    def _result(self, body, what: str = WHAT) -> dict:
        if body is None:
            raise TransientError(f"{what}: the answer is not JSON")
        if not isinstance(body, dict) or body.get("ok") is not True:
            raise TransientError(f"{what}: the answer does not say ok")
        return body

    def _detail(self, body) -> str | None:
        detail = body.get("description") if isinstance(body, dict) else None
        if not isinstance(detail, str) or not detail.strip():
            return None
        detail = self._hide(" ".join(detail.split()))
        return detail[:MAX_DETAIL_CHARS] + ("..." if len(detail) > MAX_DETAIL_CHARS else "")

    def _refusal(self, status: int, detail: str | None, what: str = WHAT) -> PermanentError:
        hint = HINTS.get(status)
        if status == 400 and "chat" in (detail or "").lower():
            hint = "check TELEGRAM_CHAT_ID"
        message = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
        kind = ConflictError if status == CONFLICT else PermanentError
        return kind(message + (f"; {hint}" if hint else ""), status, detail)


def _decode(data: bytes):
    try:
        return json.loads(data or b"null")
    except ValueError:
        return None


def _migrate_to(body) -> str | None:
    parameters = body.get("parameters") if isinstance(body, dict) else None
    value = parameters.get("migrate_to_chat_id") if isinstance(parameters, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
