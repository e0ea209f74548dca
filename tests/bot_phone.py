"""The Bot API stand-in (molecule/resources/bot-api-standin.py) in this process, and a phone.

The same file serves the Molecule run inside the container; here it is loaded as a module and
served on a free port of 127.0.0.1.
"""

import importlib.util
import json
import sys
from pathlib import Path

from agentctl_stubs import BOT_TOKEN

STANDIN = Path(__file__).resolve().parents[1] / "molecule" / "resources" / "bot-api-standin.py"
DOCTOR, NURSE, STRANGER = 4242, 5151, 666
GROUP = -100777


def load_standin():
    if "bot_api_standin" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bot_api_standin", STANDIN)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bot_api_standin"] = module
        spec.loader.exec_module(module)
    return sys.modules["bot_api_standin"]


class Phone:
    """Telegram's side: the stand-in's state, and the users' messages and presses."""

    def __init__(self):
        standin = load_standin()
        self.api = standin.BotAPI(BOT_TOKEN)
        self.server = standin.Server(0, self.api).start()
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()

    def say(self, text: str, user_id: int = DOCTOR, chat_id: int | None = None, **kw) -> int:
        return self.api.say(text, user_id, chat_id, **kw)

    def press(self, message_id: int, data: str, user_id: int = DOCTOR, **kw) -> str:
        return self.api.press(message_id, data, user_id, **kw)

    def fail(self, status: int, description: str, retry_after=None, method=None) -> None:
        """Make the next Bot API call (of that method) answer this error."""
        failure = {"status": status, "description": description, "retry_after": retry_after}
        with self.api.lock:
            self.api.failures.append({**failure, "method": method})

    @property
    def messages(self) -> list[dict]:
        return self.api.log()["messages"]

    @property
    def answers(self) -> list[dict]:
        return self.api.log()["answers"]

    def buttons(self, message: dict) -> list[tuple[str, str]]:
        return [
            (key["text"], key["callback_data"])
            for row in message["reply_markup"]["inline_keyboard"]
            for key in row
        ]


def write_bot_config(path: Path, state_file: Path, token_file: Path, **changes) -> Path:
    settings = {
        "allowed_users": [DOCTOR],
        "allowed_chats": [GROUP],
        "state_file": str(state_file),
        "token_file": str(token_file),
        "poll_timeout_seconds": 1,
        "decision_wait_seconds": 1,
        **changes,
    }
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path
