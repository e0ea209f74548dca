#!/usr/bin/env python3
"""A stand-in for the Telegram Bot API on 127.0.0.1, and the phone that talks to the bot.

    bot-api-standin.py --port 18651 --token TOKEN

The Bot API side answers as core.telegram.org/bots/api documents: POST /bot<token>/<method>
with a JSON body, an answer {"ok": true, "result": ...} or {"ok": false, "error_code",
"description", "parameters"}. getUpdates is long polling: an update stays until a call asks with
a higher offset, a call waits up to `timeout` seconds for one, and a call still waiting when a
newer one comes ends with 409 Conflict (the newer one goes on, as when a bot restarts while its
old connection hangs on). sendMessage and editMessageText check the chat, the HTML, the length, the
callback data (64 bytes) and refuse an edit that changes nothing; answerCallbackQuery refuses a
query answered before. A wrong token gets 401.

The phone side, for tests: POST /phone/say {"text", "user_id", "chat_id"?, "username"?},
POST /phone/press {"message_id", "data", "user_id", "username"?} queue the updates a user's
message or button press makes; POST /phone/fail {"status", "description", "retry_after"?,
"method"?} makes the next Bot API call (of that method) fail so; GET /phone/log returns every
message (as last edited), every answered press and every update handed out. Standard library
only: it runs in the test host.
"""

import argparse
import html
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_POLL_SECONDS = 50
TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span"}
    | {"tg-spoiler", "tg-emoji", "blockquote"}
)
TAG = re.compile(r"</?([a-z-]+)(\s[^<>]*)?>")
ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)


def text_problem(text, parse_mode) -> str | None:
    """Why Telegram would refuse this text, or None."""
    if not isinstance(text, str) or not text.strip():
        return "message text is empty"
    visible = text
    if parse_mode == "HTML":
        for tag in TAG.finditer(text):
            if tag.group(1) not in TAGS:
                return f'can\'t parse entities: Unsupported start tag "{tag.group(1)}"'
        bare = TAG.sub("", text)
        if "<" in bare or ">" in bare:
            return "can't parse entities: Unexpected end of name token"
        if "&" in ENTITY.sub("", bare):
            return "can't parse entities: Unsupported HTML entity"
        visible = html.unescape(bare)
    if len(visible.encode("utf-16-le")) // 2 > MAX_TEXT:
        return "message is too long"
    return None


class BotAPI:
    """The Bot API's state: messages, updates, answered presses; thread-safe."""

    def __init__(self, token: str):
        self.token = token
        self.lock = threading.Condition()
        self.messages: list[dict] = []
        self.updates: list[dict] = []
        self.delivered: list[int] = []
        self.answers: list[dict] = []
        self.failures: list[dict] = []
        self.next_update = 1
        self.polls = 0
        self.stopping = False

    # The phone ------------------------------------------------------------------------------

    def queue(self, **content) -> int:
        with self.lock:
            update_id = self.next_update
            self.next_update += 1
            self.updates.append({"update_id": update_id, **content})
            self.lock.notify_all()
            return update_id

    def say(self, text: str, user_id: int, chat_id: int | None = None, username="doc") -> int:
        chat = user_id if chat_id is None else chat_id
        message = {
            "message_id": 100_000 + self.next_update,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private" if chat == user_id else "supergroup"},
            "from": {"id": user_id, "is_bot": False, "first_name": username, "username": username},
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.queue(message=message)

    def press(self, message_id: int, data: str, user_id: int, username="doc") -> str:
        with self.lock:
            found = [m for m in self.messages if m["message_id"] == message_id]
        if not found:
            raise LookupError(f"no message {message_id}")
        message = found[0]
        query_id = f"{user_id}-{self.next_update}"
        self.queue(
            callback_query={
                "id": query_id,
                "from": {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": username,
                    "username": username,
                },
                "message": {
                    "message_id": message_id,
                    "date": message["date"],
                    "chat": {"id": int(message["chat_id"]), "type": "private"},
                    "text": html.unescape(TAG.sub("", message["text"])),
                },
                "chat_instance": "1",
                "data": data,
            }
        )
        return query_id

    def log(self) -> dict:
        with self.lock:
            return {
                "messages": [dict(m) for m in self.messages],
                "answers": list(self.answers),
                "delivered": list(self.delivered),
                "waiting": [u["update_id"] for u in self.updates],
            }

    # The Bot API ----------------------------------------------------------------------------

    def call(self, token: str, method: str, body: dict) -> tuple[int, dict]:
        if token != self.token:
            return error(401, "Unauthorized")
        with self.lock:
            failure = next((f for f in self.failures if f.get("method") in (None, method)), None)
            if failure is not None:
                self.failures.remove(failure)
                answer = {
                    "ok": False,
                    "error_code": failure["status"],
                    "description": failure.get("description") or "Error",
                }
                if failure.get("retry_after") is not None:
                    answer["parameters"] = {"retry_after": failure["retry_after"]}
                return failure["status"], answer
        handler = {
            "getUpdates": self.get_updates,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "answerCallbackQuery": self.answer_callback_query,
        }.get(method)
        if handler is None:
            return error(404, "Not Found")
        return handler(body)

    def check(self, body: dict) -> str | None:
        problem = text_problem(body.get("text"), body.get("parse_mode"))
        if problem:
            return problem
        if (
            not isinstance(body.get("chat_id"), int | str)
            or not str(body["chat_id"]).lstrip("-").isdigit()
        ):
            return "chat not found"
        for row in (body.get("reply_markup") or {}).get("inline_keyboard", []):
            for key in row:
                if len(str(key.get("callback_data", "")).encode("utf-8")) > MAX_CALLBACK_DATA:
                    return "BUTTON_DATA_INVALID"
        return None

    def send_message(self, body: dict) -> tuple[int, dict]:
        problem = self.check(body)
        if problem:
            return error(400, f"Bad Request: {problem}")
        with self.lock:
            message = {
                "message_id": len(self.messages) + 1,
                "date": int(time.time()),
                "chat_id": str(body["chat_id"]),
                "text": body["text"],
                "reply_markup": body.get("reply_markup") or {"inline_keyboard": []},
                "edits": 0,
            }
            self.messages.append(message)
        return 200, {"ok": True, "result": shown(message)}

    def edit_message_text(self, body: dict) -> tuple[int, dict]:
        problem = self.check(body)
        if problem:
            return error(400, f"Bad Request: {problem}")
        with self.lock:
            found = [
                m
                for m in self.messages
                if m["message_id"] == body.get("message_id")
                and m["chat_id"] == str(body.get("chat_id"))
            ]
            if not found:
                return error(400, "Bad Request: message to edit not found")
            message = found[0]
            markup = body.get("reply_markup") or {"inline_keyboard": []}
            if message["text"] == body["text"] and message["reply_markup"] == markup:
                return error(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup of "
                    "the message",
                )
            message.update(text=body["text"], reply_markup=markup, edits=message["edits"] + 1)
            return 200, {"ok": True, "result": shown(message)}

    def answer_callback_query(self, body: dict) -> tuple[int, dict]:
        with self.lock:
            query = body.get("callback_query_id")
            if any(a["callback_query_id"] == query for a in self.answers):
                return error(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID is "
                    "invalid",
                )
            self.answers.append(dict(body))
        return 200, {"ok": True, "result": True}

    def get_updates(self, body: dict) -> tuple[int, dict]:
        offset = body.get("offset")
        timeout = min(float(body.get("timeout") or 0), MAX_POLL_SECONDS)
        deadline = time.monotonic() + timeout
        with self.lock:
            # A newer poll ends the one still waiting (whose bot may be gone): the older gets 409.
            self.polls += 1
            mine = self.polls
            self.lock.notify_all()
            if isinstance(offset, int):
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and not self.stopping:
                if self.polls != mine:
                    return error(409, CONFLICT)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.lock.wait(min(left, 0.05))
            if self.polls != mine:
                return error(409, CONFLICT)
            handed = [dict(u) for u in self.updates]
            self.delivered.extend(u["update_id"] for u in handed)
        return 200, {"ok": True, "result": handed}


def shown(message: dict) -> dict:
    return {
        "message_id": message["message_id"],
        "date": message["date"],
        "chat": {"id": int(message["chat_id"])},
        "text": html.unescape(TAG.sub("", message["text"])),
    }


def error(status: int, description: str) -> tuple[int, dict]:
    return status, {"ok": False, "error_code": status, "description": description}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, port: int, api: BotAPI):
        super().__init__(("127.0.0.1", port), Handler)
        self.api = api

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "Server":
        threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self.api.lock:
            self.api.stopping = True
            self.api.lock.notify_all()
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server_version = "bot-api-standin/1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.path == "/phone/log":
            self.reply(200, self.server.api.log())
        else:
            self.reply(*error(404, "Not Found"))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.reply(*error(400, "Bad Request: the body is not a JSON object"))
            return
        api: BotAPI = self.server.api
        if self.path.startswith("/phone/"):
            self.phone(api, self.path.removeprefix("/phone/"), body)
            return
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", self.path)
        if not match:
            self.reply(*error(404, "Not Found"))
            return
        self.reply(*api.call(match.group(1), match.group(2), body))

    def phone(self, api: BotAPI, action: str, body: dict) -> None:
        try:
            if action == "say":
                result = api.say(
                    body["text"],
                    int(body["user_id"]),
                    None if body.get("chat_id") is None else int(body["chat_id"]),
                    body.get("username", "doc"),
                )
            elif action == "press":
                result = api.press(
                    int(body["message_id"]),
                    str(body["data"]),
                    int(body["user_id"]),
                    body.get("username", "doc"),
                )
            elif action == "fail":
                with api.lock:
                    api.failures.append(body)
                result = True
            else:
                self.reply(*error(404, "Not Found"))
                return
        except (KeyError, ValueError, LookupError) as problem:
            self.reply(*error(400, f"Bad Request: {problem}"))
            return
        self.reply(200, {"ok": True, "result": result})

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    server = Server(args.port, BotAPI(args.token))
    server.serve_forever(0.05)


if __name__ == "__main__":
    main()
