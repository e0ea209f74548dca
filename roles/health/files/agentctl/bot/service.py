"""The bot's loop: long-poll the updates, handle each once, in order, the allowlist first.

Who may talk to it: a user on allowed_users in a chat on allowed_chats (or in their private chat
with the bot). Anyone else is a stranger: ignored, never answered, logged once per sender with
the ids. An allowed chat's member not on allowed_users is refused with one line.

A press carries only a token (state.py): unknown or not of the pressed message (forged), used
(second press), older than button_valid_hours (expired), or for a review no longer waiting
(decided elsewhere) gets a clear answer and changes nothing. Otherwise the decision goes into the
agent's spool (reviews.py), and the message is edited with the outcome once the agent applied it.
"""

import time

from ..agents import discover_agents
from ..contract.errors import PermanentError, TransientError
from ..contract.telegram import ConflictError, escape
from ..errors import UsageError
from ..output import logger
from . import replies
from .reviews import clear_refusal, find_review, hand_over, outcome, pending_reviews
from .state import BotState

# A press waits decision_wait_seconds for the agent to apply its decision (it looks every second
# while idle); past that the outcome is edited in once the agent has applied it.
DECISION_POLL_SECONDS = 0.2
# After a failed poll: the wait grows to this, then stays.
MAX_BACKOFF_SECONDS = 60
UNKNOWN_BUTTON = "This button is not known here (forged, or long expired): nothing was changed."


class Bot:
    def __init__(
        self, config: dict, bot_config: dict, client, *, sleep=time.sleep, clock=time.time
    ):
        self.config, self.bot_config, self.client = config, bot_config, client
        self.sleep, self.clock = sleep, clock
        self.state = BotState(bot_config["state_file"])
        self.valid_seconds = bot_config["button_valid_hours"] * 3600
        self.decision_wait = bot_config["decision_wait_seconds"]

    # The loop -------------------------------------------------------------------------------

    def run(self, stop=lambda: False) -> None:
        """Poll until stop() says so; transient failures and conflicts wait and poll again."""
        backoff = 1.0
        while not stop():
            try:
                self.poll_once(self.bot_config["poll_timeout_seconds"])
                backoff = 1.0
            except ConflictError as error:
                logger.warning("%s; polling again in %ds", error, MAX_BACKOFF_SECONDS)
                self.sleep(MAX_BACKOFF_SECONDS)
            except TransientError as error:
                logger.warning("Telegram unreachable (%s); polling again in %.0fs", error, backoff)
                self.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except PermanentError as error:
                if error.status_code in (401, 404):
                    raise UsageError(
                        f"Telegram refused the bot ({error}); set health_telegram_bot_token"
                    ) from None
                logger.warning("Telegram refused a request (%s)", error)
                self.sleep(backoff)

    def poll_once(self, timeout: float = 0) -> int:
        """Fetch the updates after the saved offset and handle the new ones; return how many."""
        self.settle_pending()
        updates = self.client.get_updates(self.state.offset, timeout)
        handled = 0
        for update in sorted(updates, key=lambda u: u.get("update_id", -1)):
            update_id = update.get("update_id")
            if not isinstance(update_id, int) or not self.state.is_new(update_id):
                continue
            self.state.handled(update_id)  # before its effects: never twice, even after a crash
            handled += 1
            try:
                self.handle(update)
            except PermanentError as error:  # this chat or message refused: the next ones go on
                logger.warning("update %d: Telegram refused the answer (%s)", update_id, error)
            except OSError as error:  # a file it may not read: this update fails, not the bot
                logger.warning(
                    "update %d: %s: %s", update_id, error.strerror or error, error.filename or ""
                )
        if handled:
            self.state.expire(self.valid_seconds, self.clock())
            self.state.save()
        return handled

    # Who is talking -------------------------------------------------------------------------

    def who(self, sender: dict, chat: dict) -> str:
        """Return "allowed", "refused" (allowed chat, unknown user) or "stranger"."""
        user_id, chat_id = sender.get("id"), chat.get("id")
        allowed_users = self.bot_config["allowed_users"]
        user_ok = user_id in allowed_users
        chat_ok = chat_id in self.bot_config["allowed_chats"] or (
            chat_id == user_id and chat.get("type", "private") == "private" and user_ok
        )
        if not chat_ok:
            return "stranger"
        return "allowed" if user_ok else "refused"

    def stranger(self, sender: dict, chat: dict) -> None:
        sender_id = sender.get("id")
        if isinstance(sender_id, int) and self.state.first_time_stranger(sender_id):
            logger.warning(
                "ignored a stranger: Telegram user %s in chat %s (not on the allowlist; logged "
                "once per sender)",
                sender_id,
                chat.get("id"),
            )

    def handle(self, update: dict) -> None:
        if isinstance(update.get("message"), dict):
            self.handle_message(update["message"])
        elif isinstance(update.get("callback_query"), dict):
            self.handle_press(update["callback_query"])

    # Commands -------------------------------------------------------------------------------

    def handle_message(self, message: dict) -> None:
        sender = message.get("from") if isinstance(message.get("from"), dict) else {}
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        verdict = self.who(sender, chat)
        if verdict == "stranger":
            self.stranger(sender, chat)
            return
        chat_id = str(chat["id"])
        if verdict == "refused":
            self.client.send_message(
                escape(
                    f"Refused: Telegram user {sender.get('id')} is not on this bot's allowlist; "
                    "ask the operator to add the id to health_bot_allowed_users."
                ),
                chat_id,
            )
            return
        words = str(message.get("text") or "").split()
        command = words[0].split("@", 1)[0].lower() if words else ""
        argument = words[1].lower() if len(words) > 1 else "today"
        if command == "/status":
            self.client.send_message(replies.status(self.config), chat_id)
        elif command == "/costs":
            self.client.send_message(replies.costs(self.config, argument), chat_id)
        elif command == "/failed":
            self.client.send_message(replies.failed(self.config), chat_id)
        elif command == "/review":
            self.send_reviews(chat_id)
        else:
            self.client.send_message(escape(replies.HELP), chat_id)

    def send_reviews(self, chat_id: str) -> None:
        privacy = self.bot_config["privacy"]
        sent = 0
        for agent in discover_agents(self.config):
            for review in pending_reviews(agent):
                text = replies.review_message(
                    agent.slug, review, privacy, self.bot_config["button_valid_hours"]
                )
                meaning = {"agent": agent.slug, "item_id": review["item_id"], "chat_id": chat_id}
                choices = [(c, c["number"]) for c in replies.candidates(review)]
                choices.append((None, None))
                tokens = [self.state.new_token({**meaning, "choose": n}) for _, n in choices]
                buttons = [
                    [(replies.button_label(choice, privacy) if choice else "Reject", token)]
                    for (choice, _), token in zip(choices, tokens, strict=True)
                ]
                self.state.save()  # the tokens exist before any press can name them
                try:
                    message = self.client.send_message(text, chat_id, buttons)
                except PermanentError:
                    self.state.forget(tokens)
                    raise
                for token in tokens:
                    self.state.tokens[token]["message_id"] = message.get("message_id")
                self.state.save()
                sent += 1
        if not sent:
            self.client.send_message("No document is waiting for a decision.", chat_id)

    # Presses --------------------------------------------------------------------------------

    def handle_press(self, query: dict) -> None:
        sender = query.get("from") if isinstance(query.get("from"), dict) else {}
        message = query.get("message") if isinstance(query.get("message"), dict) else {}
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        verdict = self.who(sender, chat)
        if verdict == "stranger":
            self.stranger(sender, chat)
            return
        answer = self.client.answer_callback_query
        if verdict == "refused":
            answer(query["id"], "Refused: you are not on this bot's allowlist.", True)
            return
        token = str(query.get("data") or "")
        meaning = self.state.tokens.get(token)
        if (
            meaning is None
            or meaning.get("chat_id") != str(chat.get("id"))
            or meaning.get("message_id") != message.get("message_id")
        ):
            logger.warning(
                "refused a press with unknown callback data from Telegram user %s", sender.get("id")
            )
            answer(query["id"], UNKNOWN_BUTTON, True)
            return
        if meaning.get("used"):
            answer(query["id"], f"Already decided here ({meaning['used']}): nothing changed.", True)
            return
        siblings = self.siblings(meaning)
        plain = escape(str(message.get("text") or ""))
        if self.clock() - meaning["created"] > self.valid_seconds:
            self.mark(siblings, "expired")
            answer(
                query["id"],
                "This message expired: send /review for a fresh one. Nothing was changed.",
                True,
            )
            self.edit(meaning, plain + "\n\n⌛ expired: send /review for a fresh one")
            return
        agent = next((a for a in discover_agents(self.config) if a.slug == meaning["agent"]), None)
        if agent is None or find_review(agent, meaning["item_id"]) is None:
            self.mark(siblings, "decided elsewhere")
            answer(
                query["id"],
                "This review is no longer waiting (decided elsewhere): nothing was changed.",
                True,
            )
            self.edit(meaning, plain + "\n\nℹ️ no longer waiting: decided elsewhere")
            return
        who = f"@{sender['username']}" if sender.get("username") else f"user {sender.get('id')}"
        try:
            hand_over(agent, meaning["item_id"], meaning["choose"], sender, token)
        except FileExistsError:
            answer(query["id"], "This decision was already handed over: nothing changed.", True)
            return
        logger.warning(
            "decision for %s review %s by Telegram user %s handed to the agent",
            agent.slug,
            meaning["item_id"],
            sender.get("id"),
        )
        self.mark(siblings, "pending")
        meaning.update(decider=who, text=plain)
        self.state.save()
        deadline = time.monotonic() + self.decision_wait
        while outcome(agent, meaning["item_id"], token)[0] == "waiting":
            if time.monotonic() >= deadline:
                answer(query["id"], "Handed to the agent: it applies it at its next loop.")
                return
            self.sleep(DECISION_POLL_SECONDS)
        answer(query["id"], self.finish(token, meaning))

    def siblings(self, meaning: dict) -> list[str]:
        """The tokens of the same message's buttons: one decision per message."""
        return [
            token
            for token, other in self.state.tokens.items()
            if other.get("chat_id") == meaning.get("chat_id")
            and other.get("message_id") == meaning.get("message_id")
        ]

    def mark(self, tokens: list[str], used: str) -> None:
        for token in tokens:
            self.state.tokens[token]["used"] = used
        self.state.save()

    def finish(self, token: str, meaning: dict) -> str:
        """Edit the message with what the agent did with the decision; return the short notice."""
        agent = next((a for a in discover_agents(self.config) if a.slug == meaning["agent"]), None)
        if agent is None:
            return "The agent is gone from this host."
        result, error = outcome(agent, meaning["item_id"], token)
        if result == "waiting":
            return ""
        siblings = self.siblings(meaning)
        if result == "refused":
            self.mark(siblings, "refused")
            clear_refusal(agent, meaning["item_id"], token)
            notice = f"The agent refused the decision: {error}"
            self.edit(meaning, f"{meaning['text']}\n\n⚠️ {escape(notice)}")
            return notice[:200]
        what = (
            "rejected" if meaning["choose"] is None else f"candidate [{meaning['choose']}] chosen"
        )
        self.mark(siblings, f"{what} by {meaning['decider']}")
        notice = f"Done: {what} by {meaning['decider']}."
        self.edit(meaning, f"{meaning['text']}\n\n✅ {escape(notice)}")
        return notice

    def settle_pending(self) -> None:
        """Edit in the outcome of the decisions the agent applied after their press's wait."""
        for token, meaning in list(self.state.tokens.items()):
            if meaning.get("used") == "pending" and "decider" in meaning:
                try:
                    self.finish(token, meaning)
                except (PermanentError, TransientError) as error:
                    logger.warning("could not edit the decided review message (%s)", error)

    def edit(self, meaning: dict, markup: str) -> None:
        try:
            self.client.edit_message_text(meaning["chat_id"], meaning["message_id"], markup)
        except PermanentError as error:
            # An old message may no longer be editable (48 hours): the answer told the user.
            logger.warning("could not edit message %s (%s)", meaning.get("message_id"), error)
