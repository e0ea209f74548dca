"""Telegram: the Bot API's sendMessage, and messages cut to the lengths it accepts."""

import json
import re
import time

from .errors import DeliveryError
from .output import logger

TELEGRAM_MAX_CHARS = 4096


TELEGRAM_SERVER_ERROR_ATTEMPTS = 3
TELEGRAM_SERVER_ERROR_BACKOFF_SECONDS = 2.0


class Telegram:
    """The Bot API's sendMessage, with 429 retry_after honoured and a bounded wait."""

    def __init__(self, config: dict, token: str):
        self.base = config["telegram_api_base"].rstrip("/")
        self.chat_id = config["telegram_chat_id"]
        self.token = token
        self.timeout = config["telegram_timeout_seconds"]
        self.max_wait = config["telegram_max_wait_seconds"]

    @property
    def configured(self) -> bool:
        return bool(self.token and self.chat_id)

    def send(self, text: str) -> None:
        """Deliver one message part, or raise DeliveryError."""
        try:
            self._send(text, parse_mode="HTML")
        except DeliveryError as error:
            if error.keep or "parse" not in str(error).lower():
                raise
            # Telegram could not parse our markup: the text still matters more than the looks.
            logger.warning("Telegram refused the markup (%s); sending as plain text", error)
            self._send(html_to_text(text), parse_mode=None)

    def _send(self, text: str, parse_mode: str | None) -> None:
        # A third of agentctl's start-up time: loaded only when a message goes out.
        import urllib.error
        import urllib.request

        body = {"chat_id": self.chat_id, "text": text, "disable_web_page_preview": True}
        if parse_mode:
            body["parse_mode"] = parse_mode
        # S310: the API base is from agentctl's root-owned configuration.
        request = urllib.request.Request(  # noqa: S310
            f"{self.base}/bot{self.token}/sendMessage",
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        waited = 0.0
        server_errors = 0
        while True:
            try:
                # S310: the request above, to the configured Telegram API base.
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    answer = json.loads(response.read() or b"{}")
                if answer.get("ok", True):
                    return
                raise DeliveryError(
                    f"Telegram said: {answer.get('description', 'not ok')}", keep=False
                )
            except urllib.error.HTTPError as error:
                answer = _json_body(error)
                description = answer.get("description") or error.reason
                if error.code == 429:
                    retry_after = float((answer.get("parameters") or {}).get("retry_after") or 1)
                    if waited + retry_after > self.max_wait:
                        raise DeliveryError(
                            f"Telegram asks to wait {retry_after:g}s (429), beyond "
                            f"telegram_max_wait_seconds; kept for the next run",
                            keep=True,
                        ) from None
                    logger.info(
                        "Telegram rate limit: waiting %gs as it asks (429 retry_after)", retry_after
                    )
                    time.sleep(retry_after)
                    waited += retry_after
                    continue
                if error.code >= 500:
                    server_errors += 1
                    if server_errors >= TELEGRAM_SERVER_ERROR_ATTEMPTS:
                        raise DeliveryError(
                            f"Telegram answers {error.code} {description}; kept for the next run",
                            keep=True,
                        ) from None
                    time.sleep(TELEGRAM_SERVER_ERROR_BACKOFF_SECONDS * server_errors)
                    continue
                if error.code in (401, 403, 404):
                    raise DeliveryError(
                        f"Telegram refused the bot or chat ({error.code} {description}): check "
                        "the token in the secret file and telegram_chat_id; kept for the next run",
                        keep=True,
                    ) from None
                raise DeliveryError(
                    f"Telegram refused the message ({error.code} {description})", keep=False
                ) from None
            except (urllib.error.URLError, OSError, ValueError) as error:
                reason = getattr(error, "reason", error)
                raise DeliveryError(
                    f"Telegram unreachable ({reason}); kept for the next run", keep=True
                ) from None


def _json_body(error) -> dict:
    """Return the JSON object in the body of a urllib HTTPError ({} when there is none)."""
    try:
        answer = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return {}
    return answer if isinstance(answer, dict) else {}


def esc(text: str) -> str:
    import html  # only messages need it, not status

    return html.escape(str(text), quote=False)


def telegram_length(text: str) -> int:
    """Telegram counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split_message(lines: list[str], limit: int = TELEGRAM_MAX_CHARS) -> list[str]:
    """Cut a message into parts Telegram accepts, between lines (every line is complete HTML)."""
    pieces = []
    for line in lines:
        if telegram_length(line) <= limit:
            pieces.append(line)
            continue
        # One overlong line: drop its markup and cut the text itself.
        plain = html_to_text(line)
        part = ""
        for char in plain:
            if telegram_length(esc(part + char)) > limit:
                pieces.append(esc(part))
                part = ""
            part += char
        if part:
            pieces.append(esc(part))
    parts, current = [], ""
    for piece in pieces:
        candidate = f"{current}\n{piece}" if current else piece
        if current and telegram_length(candidate) > limit:
            parts.append(current)
            candidate = piece
        current = candidate
    if current.strip():
        parts.append(current)
    return parts


def html_to_text(text: str) -> str:
    import html  # only messages need it, not status

    return html.unescape(re.sub(r"<[^>]+>", "", text))
