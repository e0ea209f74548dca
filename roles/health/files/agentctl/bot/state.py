"""What the bot remembers across restarts, in one JSON file written atomically.

offset        the next update to handle: an update is recorded as handled before its effects
              run, so a restart never handles one twice (at most once: a command lost to a
              crash is simply asked again)
tokens        button token -> what a press means (agent, review, choice, message, time); the
              callback data is only the token, 128 random bits, nothing guessable
strangers     the sender ids already logged once
"""

import secrets
import time
from pathlib import Path

from ..contract.files import atomic_write_json, read_json

TOKEN_BYTES = 16  # 22 characters of URL-safe base64, far below the 64-byte callback limit
MAX_STRANGERS = 10_000


class BotState:
    def __init__(self, path: Path):
        self.path = path
        saved = read_json(path)
        saved = saved if isinstance(saved, dict) else {}
        offset = saved.get("offset")
        self.offset: int | None = offset if isinstance(offset, int) else None
        tokens = saved.get("tokens")
        self.tokens: dict[str, dict] = tokens if isinstance(tokens, dict) else {}
        strangers = saved.get("strangers")
        self.strangers: list[int] = strangers if isinstance(strangers, list) else []

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            self.path,
            {"offset": self.offset, "tokens": self.tokens, "strangers": self.strangers},
            mode=0o600,
        )

    def handled(self, update_id: int) -> None:
        """Record that this update is taken: it will not be handled again, even after a crash."""
        self.offset = max(self.offset or 0, update_id + 1)
        self.save()

    def is_new(self, update_id: int) -> bool:
        return self.offset is None or update_id >= self.offset

    def first_time_stranger(self, sender: int) -> bool:
        if sender in self.strangers:
            return False
        self.strangers = [*self.strangers, sender][-MAX_STRANGERS:]
        self.save()
        return True

    def new_token(self, meaning: dict) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.tokens[token] = {**meaning, "created": time.time()}
        return token

    def forget(self, tokens) -> None:
        for token in tokens:
            self.tokens.pop(token, None)

    def expire(self, valid_seconds: float, now: float | None = None) -> None:
        """Forget the tokens of messages older than their validity (kept twice as long, so that
        a late press still gets "expired" rather than "unknown")."""
        now = time.time() if now is None else now
        self.tokens = {
            token: meaning
            for token, meaning in self.tokens.items()
            if now - meaning.get("created", 0) <= 2 * valid_seconds
        }
