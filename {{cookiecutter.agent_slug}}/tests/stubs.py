"""Local HTTP stand-ins for the LLM APIs and the Telegram Bot API, on 127.0.0.1.

Each stand-in is a real threaded HTTP server on a free port. It records every request and answers
from a queue of scripted answers, falling back to a normal answer when the queue is empty:

    with LLMStub() as llm:
        llm.push(status(503, retry_after=2), hang(1.0), reply('{"a": 1}', cache_read_tokens=7))
        ...  # point LLM_BASE_URL at llm.anthropic_base or llm.openai_base

Scripted answers: `reply` (a normal LLM answer, shaped after the API the request used), `answer`
(any JSON body), `status` (an error status, optionally with Retry-After), `telegram_429`
(Telegram's flood-control answer with `parameters.retry_after`), `hang` (say nothing for a while,
then close), `reset` (abort the connection with a TCP reset), `drop` (close without an answer),
`cut_short` (a 200 whose body stops before its announced end), `malformed` (a 200 whose body is
not JSON).
"""

import base64
import binascii
import html
import json
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCALHOST = "127.0.0.1"
# How often the serving thread checks for stop(); the default 0.5 s would slow every teardown.
POLL_SECONDS = 0.01
TELEGRAM_TOKEN = "123456:SECRET-TOKEN-xyz"
TELEGRAM_CHAT_ID = "-1001234567890"
LLM_API_KEY = "sk-test-SECRET-KEY-0123456789"
DEFAULT_REPLY_TEXT = '{"answer": "stub"}'
TELEGRAM_MAX_CHARS = 4096
# The tags Telegram's HTML mode knows; any other tag makes it refuse the message.
TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span"}
    | {"tg-spoiler", "tg-emoji", "blockquote"}
)
TELEGRAM_TAG = re.compile(r"</?([a-z-]+)(\s[^<>]*)?>")
HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


@dataclass(frozen=True)
class Script:
    """One scripted answer; build it with the functions below."""

    kind: str  # reply | answer | status | hang | reset | drop | cut | raw
    status: int = 200
    body: object = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    text: str | None = None
    model: str | None = None
    usage: tuple[int, int, int, int] | None = None


def reply(
    text: str,
    *,
    input_tokens: int = 11,
    output_tokens: int = 7,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    model: str | None = None,
) -> Script:
    """Answer like the API the request was sent to. `input_tokens` excludes cached tokens."""
    usage = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
    return Script("reply", text=text, model=model, usage=usage)


def answer(body, status: int = 200, headers: dict[str, str] | None = None) -> Script:
    """Answer with this JSON body and status."""
    return Script("answer", status=status, body=body, headers=tuple((headers or {}).items()))


def status(
    code: int, *, retry_after: str | float | None = None, message: str | None = None, body=None
) -> Script:
    """Answer an error status, in the error shape of the API the request was sent to.

    `message` becomes the API's error message (Telegram's `description`); `body` replaces the
    whole body.
    """
    headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
    return Script("status", status=code, body=body, headers=headers, text=message)


def telegram_429(retry_after: int) -> Script:
    """Answer Telegram's flood control: 429 with the wait in the JSON body, no header."""
    body = {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }
    return Script("answer", status=429, body=body)


def hang(seconds: float) -> Script:
    """Say nothing for `seconds` (longer than the client's timeout), then close the connection."""
    return Script("hang", seconds=seconds)


def reset() -> Script:
    """Abort the connection with a TCP reset once the request is read."""
    return Script("reset")


def drop() -> Script:
    """Close the connection without an answer once the request is read."""
    return Script("drop")


def cut_short(body: str = '{"id": "msg_1", "content": [{"type": "text", "te') -> Script:
    """Announce a longer body than is sent, then close: the answer is cut short in transit."""
    return Script("cut", body=body)


def malformed(body: str = '{"id": "cut short", "content": [', status: int = 200) -> Script:
    """Answer a body that is not JSON, labelled as JSON."""
    return Script("raw", status=status, body=body)


@dataclass
class Recorded:
    """One request the stub received."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server whose accept queue takes a burst of connections.

    Python's default queue holds five: twenty agents connecting at once overflow it, the kernel
    drops the extra connection requests, and a client asks again only a second later, past the
    short HTTP timeouts of the fault tests; the request would then time out before the stub saw it.
    """

    daemon_threads = True
    request_queue_size = 128


class StubServer:
    """A scriptable HTTP server on 127.0.0.1; subclasses shape the normal answer and the errors."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self._queue: deque[Script] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        """Listen on a free port of 127.0.0.1 and serve in a background thread."""
        self._server = _Server((LOCALHOST, 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_SECONDS,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake hanging answers, stop serving and free the port."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def push(self, *scripts: Script) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._queue.extend(scripts)

    @property
    def pending(self) -> int:
        """Return how many queued answers are still unused."""
        with self._lock:
            return len(self._queue)

    def _next(self, recorded: Recorded) -> Script | None:
        with self._lock:
            self.requests.append(recorded)
            return self._queue.popleft() if self._queue else None

    def _respond(self, recorded: Recorded, script: Script | None) -> Response:
        if script is None:
            return self.normal_answer(recorded)
        if script.kind == "answer":
            return _json_response(script.status, script.body, dict(script.headers))
        if script.kind == "raw":
            return Response(
                script.status, script.body.encode(), {"Content-Type": "application/json"}
            )
        if script.kind == "status":
            body = script.body
            if body is None:
                message = script.text or f"stub answered {script.status}"
                body = self.error_body(recorded, script.status, message)
            return _json_response(script.status, body, dict(script.headers))
        if script.kind == "reply":
            return self.reply_answer(recorded, script)
        raise ValueError(f"unknown script kind {script.kind}")

    def normal_answer(self, recorded: Recorded) -> Response:
        return _json_response(200, {"ok": True})

    def error_body(self, recorded: Recorded, code: int, message: str):
        return {"error": {"type": "stub_error", "message": message}}

    def reply_answer(self, recorded: Recorded, script: Script) -> Response:
        return _json_response(200, {"text": script.text})


class LLMStub(StubServer):
    """Speak the Anthropic Messages API and the OpenAI chat completions API.

    Point the anthropic provider at `anthropic_base` and the openai one at `openai_base`. With an
    `api_key`, requests without it get the API's 401. `responder(system, prompt)` makes the text of
    normal answers; by default it is DEFAULT_REPLY_TEXT.
    """

    ANTHROPIC_PATH = "/v1/messages"
    OPENAI_PATH = "/v1/chat/completions"

    def __init__(self, api_key: str | None = LLM_API_KEY, responder=None):
        super().__init__()
        self.api_key = api_key
        self.responder = responder or (lambda system, prompt: DEFAULT_REPLY_TEXT)
        self._ids = 0

    @property
    def anthropic_base(self) -> str:
        return self.url

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"

    def _shape(self, recorded: Recorded) -> str | None:
        if recorded.path == self.ANTHROPIC_PATH:
            return "anthropic"
        if recorded.path == self.OPENAI_PATH:
            return "openai"
        return None

    def _refusal(self, recorded: Recorded) -> Response | None:
        shape = self._shape(recorded)
        if shape is None or recorded.method != "POST":
            return _json_response(404, self.error_body(recorded, 404, "not found"))
        body = recorded.json
        if self.api_key is not None:
            if shape == "anthropic":
                given = recorded.headers.get("x-api-key")
            else:
                given = recorded.headers.get("authorization", "").removeprefix("Bearer ")
            if given != self.api_key:
                return _json_response(401, self.error_body(recorded, 401, "invalid api key"))
        required = ("model", "messages", "max_tokens") if shape == "anthropic" else ("model",)
        if shape == "anthropic" and "anthropic-version" not in recorded.headers:
            return _json_response(400, self.error_body(recorded, 400, "anthropic-version missing"))
        if not isinstance(body, dict) or any(key not in body for key in required):
            return _json_response(400, self.error_body(recorded, 400, "invalid request body"))
        if not isinstance(body.get("messages"), list):
            return _json_response(400, self.error_body(recorded, 400, "messages: list needed"))
        for message in body["messages"]:
            problem = content_problem(shape, message.get("content"))
            if problem is not None:
                return _json_response(400, self.error_body(recorded, 400, problem))
        return None

    def normal_answer(self, recorded: Recorded) -> Response:
        refusal = self._refusal(recorded)
        if refusal is not None:
            return refusal
        system, prompt = self.prompt_of(recorded)
        text = self.responder(system, prompt)
        tokens = (math.ceil(len(system + prompt) / 4), math.ceil(len(text) / 4), 0, 0)
        return self._render(recorded, text, None, tokens)

    def reply_answer(self, recorded: Recorded, script: Script) -> Response:
        refusal = self._refusal(recorded)
        if refusal is not None:
            return refusal
        return self._render(recorded, script.text, script.model, script.usage)

    def prompt_of(self, recorded: Recorded) -> tuple[str, str]:
        """Return the (system, user prompt) a request carried, in either API's shape."""
        body = recorded.json or {}
        messages = body.get("messages") or []
        user = "\n".join(text_of(m.get("content", "")) for m in messages if m.get("role") == "user")
        if self._shape(recorded) == "anthropic":
            return body.get("system", ""), user
        system = "\n".join(
            text_of(m.get("content", "")) for m in messages if m.get("role") == "system"
        )
        return system, user

    def _render(self, recorded, text, model, usage) -> Response:
        with self._lock:
            self._ids += 1
            number = self._ids
        model = model or (recorded.json or {}).get("model", "stub-model")
        fresh, output, cache_read, cache_write = usage
        if self._shape(recorded) == "anthropic":
            body = {
                "id": f"msg_stub_{number}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": fresh,
                    "output_tokens": output,
                    "cache_creation_input_tokens": cache_write,
                    "cache_read_input_tokens": cache_read,
                },
            }
        else:
            # OpenAI counts cached tokens inside prompt_tokens and has no cache-write count.
            body = {
                "id": f"chatcmpl-stub-{number}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": fresh + cache_read,
                    "completion_tokens": output,
                    "total_tokens": fresh + cache_read + output,
                    "prompt_tokens_details": {"cached_tokens": cache_read},
                },
            }
        return _json_response(200, body)

    def error_body(self, recorded: Recorded, code: int, message: str):
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(code, "api_error")
        if self._shape(recorded) == "anthropic":
            return {"type": "error", "error": {"type": kind, "message": message}}
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def text_of(content) -> str:
    """Return the text of a message content: a string, or the text blocks of a content list."""
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if block.get("type") == "text")


# What each API documents for the attachments of a message, and the media types it reads.
ANTHROPIC_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
OPENAI_DATA_URL = re.compile(r"^data:(image/(?:png|jpeg|webp|gif)|application/pdf);base64,(.*)$")


def _b64_problem(data) -> str | None:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, TypeError, ValueError):
        return "invalid base64 data"
    return None


def content_problem(shape: str, content) -> str | None:
    """Return why a message content breaks the API's documented shape, or None."""
    if isinstance(content, str):
        return None
    if not isinstance(content, list) or not content:
        return "content: a string or a non-empty list of blocks"
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            if not isinstance(block.get("text"), str):
                return "text block: text must be a string"
        elif shape == "anthropic" and kind in ("image", "document"):
            source = block.get("source") or {}
            if source.get("type") != "base64":
                return f"{kind} block: source.type must be base64"
            allowed = ANTHROPIC_IMAGE_TYPES if kind == "image" else {"application/pdf"}
            if source.get("media_type") not in allowed:
                return f"{kind} block: media_type {source.get('media_type')!r} is not supported"
            if (problem := _b64_problem(source.get("data"))) is not None:
                return f"{kind} block: {problem}"
        elif shape == "openai" and kind == "image_url":
            image = block.get("image_url") or {}
            match = OPENAI_DATA_URL.match(str(image.get("url", "")))
            if match is None or match[1] == "application/pdf":
                return "image_url: url must be an image data URL"
            if image.get("detail", "auto") not in ("auto", "low", "high"):
                return "image_url: detail must be auto, low or high"
            if (problem := _b64_problem(match[2])) is not None:
                return f"image_url: {problem}"
        elif shape == "openai" and kind == "file":
            file = block.get("file") or {}
            match = OPENAI_DATA_URL.match(str(file.get("file_data", "")))
            if match is None or match[1] != "application/pdf" or not file.get("filename"):
                return "file: filename and a PDF data URL in file_data are needed"
            if (problem := _b64_problem(match[2])) is not None:
                return f"file: {problem}"
        else:
            return f"unknown content block type {kind!r}"
    return None


class TelegramStub(StubServer):
    """Speak the Bot API and keep every message it accepted, as Telegram would.

    sendMessage, editMessageText, answerCallbackQuery and getUpdates (long polling: an update
    stays until a call asks with a higher offset; a call waits up to `timeout` seconds for one;
    a second poller at the same time gets 409 Conflict). `say` and `press` play the phone: they
    queue the update a user's message or button press would make. Like Telegram it refuses a
    wrong token (401), an unknown chat, an empty or too long text, HTML that is not valid
    Telegram HTML, an edit that changes nothing, and callback data over 64 bytes (400).
    """

    def __init__(self, token: str = TELEGRAM_TOKEN, chat_id: str | None = TELEGRAM_CHAT_ID):
        super().__init__()
        self.token = token
        self.chat_id = chat_id
        self.messages: list[dict] = []
        self.answers: list[dict] = []  # answerCallbackQuery calls
        self.updates: list[dict] = []  # not yet confirmed
        self.delivered: list[int] = []  # update ids, each time one was handed out
        self._next_update = 1
        self._pollers = 0
        self._arrived = threading.Condition(self._lock)

    @property
    def api_base(self) -> str:
        return self.url

    @property
    def texts(self) -> list[str]:
        with self._lock:
            return [message["text"] for message in self.messages]

    def _queue_update(self, **content) -> int:
        with self._lock:
            update_id = self._next_update
            self._next_update += 1
            self.updates.append({"update_id": update_id, **content})
            self._arrived.notify_all()
            return update_id

    def say(self, text: str, user_id: int, chat_id: int | None = None, username="doc") -> int:
        """Queue the update of a user writing text in a chat (their private chat by default)."""
        chat = user_id if chat_id is None else chat_id
        message = {
            "message_id": 10_000 + self._next_update,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private" if chat == user_id else "supergroup"},
            "from": {"id": user_id, "is_bot": False, "first_name": username, "username": username},
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._queue_update(message=message)

    def press(self, message_id: int, data: str, user_id: int, username: str = "doc") -> str:
        """Queue the update of a user pressing a button of a message; return the query's id."""
        with self._lock:
            message = next(m for m in self.messages if m["message_id"] == message_id)
        query_id = f"q{self._next_update}"
        self._queue_update(
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
                    "text": message["text"],
                },
                "chat_instance": "1",
                "data": data,
            }
        )
        return query_id

    def message(self, message_id: int) -> dict:
        with self._lock:
            return dict(next(m for m in self.messages if m["message_id"] == message_id))

    def normal_answer(self, recorded: Recorded) -> Response:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", recorded.path)
        if not match or recorded.method != "POST":
            return self._error(404, "Not Found")
        if match.group(1) != self.token:
            return self._error(401, "Unauthorized")
        call = recorded.json
        if not isinstance(call, dict):
            call = {}
        method = {
            "sendMessage": self._send,
            "editMessageText": self._edit,
            "answerCallbackQuery": self._answer_query,
            "getUpdates": self._get_updates,
        }.get(match.group(2))
        if method is None:
            return self._error(404, "Not Found")
        return method(call)

    def _text_problem(self, call: dict) -> str | None:
        if self.chat_id is not None and str(call.get("chat_id")) != self.chat_id:
            return "chat not found"
        problem = telegram_text_problem(call.get("text"), call.get("parse_mode"))
        if problem:
            return problem
        for row in (call.get("reply_markup") or {}).get("inline_keyboard", []):
            for key in row:
                if len(key.get("callback_data", "").encode("utf-8")) > 64:
                    return "BUTTON_DATA_INVALID"
        return None

    def _send(self, call: dict) -> Response:
        problem = self._text_problem(call)
        if problem:
            return self._error(400, f"Bad Request: {problem}")
        with self._lock:
            message = {**call, "message_id": len(self.messages) + 1, "date": int(time.time())}
            self.messages.append(message)
        result = {
            "message_id": message["message_id"],
            "date": message["date"],
            "chat": {"id": int(call["chat_id"])},
            "text": call["text"],
        }
        return _json_response(200, {"ok": True, "result": result})

    def _edit(self, call: dict) -> Response:
        problem = self._text_problem(call)
        if problem:
            return self._error(400, f"Bad Request: {problem}")
        with self._lock:
            found = [
                m
                for m in self.messages
                if m["message_id"] == call.get("message_id")
                and str(m["chat_id"]) == str(call.get("chat_id"))
            ]
            if not found:
                return self._error(400, "Bad Request: message to edit not found")
            message = found[0]
            markup = call.get("reply_markup") or {"inline_keyboard": []}
            old_markup = message.get("reply_markup") or {"inline_keyboard": []}
            if message["text"] == call["text"] and old_markup == markup:
                return self._error(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            message.update(text=call["text"], reply_markup=markup, edited=True)
            result = {"message_id": message["message_id"], "text": call["text"]}
        return _json_response(200, {"ok": True, "result": result})

    def _answer_query(self, call: dict) -> Response:
        with self._lock:
            if any(a["callback_query_id"] == call.get("callback_query_id") for a in self.answers):
                return self._error(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID "
                    "is invalid",
                )
            self.answers.append(call)
        return _json_response(200, {"ok": True, "result": True})

    def _get_updates(self, call: dict) -> Response:
        offset = call.get("offset")
        timeout = min(float(call.get("timeout") or 0), 50.0)
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._pollers:
                return self._error(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            self._pollers += 1
            try:
                if isinstance(offset, int):
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                while not self.updates and not self._stopping.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._arrived.wait(min(left, 0.05))
                handed = list(self.updates)
                self.delivered.extend(u["update_id"] for u in handed)
            finally:
                self._pollers -= 1
        return _json_response(200, {"ok": True, "result": handed})

    def error_body(self, recorded: Recorded, code: int, message: str):
        return {"ok": False, "error_code": code, "description": message}

    def _error(self, code: int, description: str) -> Response:
        return _json_response(code, {"ok": False, "error_code": code, "description": description})


def telegram_text_problem(text, parse_mode) -> str | None:
    """Return why Telegram would refuse this text, or None when it would accept it."""
    if not isinstance(text, str) or not text.strip():
        return "message text is empty"
    visible = text
    if parse_mode == "HTML":
        for tag in TELEGRAM_TAG.finditer(text):
            if tag.group(1) not in TELEGRAM_TAGS:
                return f'can\'t parse entities: Unsupported start tag "{tag.group(1)}"'
        without_tags = TELEGRAM_TAG.sub("", text)
        if "<" in without_tags or ">" in without_tags:
            return "can't parse entities: Unexpected end of name token"
        if "&" in HTML_ENTITY.sub("", without_tags):
            return "can't parse entities: Unsupported HTML entity"
        visible = html.unescape(without_tags)
    if len(visible.encode("utf-16-le")) // 2 > TELEGRAM_MAX_CHARS:
        return "message is too long"
    return None


class RecordingSleep:
    """A `sleep` that records what it was asked to wait instead of waiting."""

    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.calls)


def _json_response(code: int, body, headers: dict[str, str] | None = None) -> Response:
    headers = {"Content-Type": "application/json", **(headers or {})}
    return Response(code, json.dumps(body).encode(), headers)


class _Handler(BaseHTTPRequestHandler):
    server_version = "stub/1"

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def log_message(self, format, *args):  # the test output stays readable
        pass

    def _serve(self):
        stub: StubServer = self.server.stub
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        recorded = Recorded(self.command, self.path, headers, body)
        script = stub._next(recorded)
        if script is not None and script.kind == "hang":
            stub._stopping.wait(script.seconds)
        if script is not None and script.kind in ("hang", "drop"):
            self.close_connection = True
            return
        if script is not None and script.kind == "reset":
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if script is not None and script.kind == "cut":
            response = Response(200, script.body.encode(), {"Content-Type": "application/json"})
            announced = len(response.body) * 2
        else:
            response = stub._respond(recorded, script)
            announced = len(response.body)
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(announced))
            self.end_headers()
            self.wfile.write(response.body)
            if announced != len(response.body):
                self.close_connection = True
        except OSError:  # the client gave up first
            self.close_connection = True
