"""`agentctl bot`: the operator's Telegram bot (pillars-bot.service), until stopped."""

import contextlib
import signal
import sys

from ..bot.service import Bot
from ..bot.settings import bot_config_path, load_bot_config, read_token
from ..contract.botapi import BotClient
from ..contract.errors import PermanentError, TransientError
from ..contract.retry import RetryPolicy
from ..errors import EXIT_OK, EXIT_PROBLEM
from ..output import logger
from ..redaction import REDACT

ATTEMPTS = 3


class Stopped(BaseException):
    """SIGTERM during a long poll: nothing is half done, so the bot ends without waiting it out."""


def command_bot(config: dict, args) -> int:
    bot_config = load_bot_config(bot_config_path())
    token = read_token(bot_config)
    REDACT.add(token)
    logger.setup()
    timeout = config["telegram_timeout_seconds"]
    policy = RetryPolicy(
        max_attempts=ATTEMPTS,
        max_total_seconds=timeout + config["telegram_max_wait_seconds"],
        timeout_seconds=timeout,
    )
    # The first allowed chat is the client's own; every answer names its chat.
    chat = str(min(bot_config["allowed_chats"]))
    client = BotClient(token, chat, config["telegram_api_base"], policy)
    bot = Bot(config, bot_config, client)
    if args.once:
        try:
            bot.poll_once(0)
        except (PermanentError, TransientError) as error:
            sys.stderr.write(REDACT(f"agentctl: bot: {error}") + "\n")
            return EXIT_PROBLEM
        return EXIT_OK
    stopping, polling = [], []

    def on_term(*_):
        stopping.append(True)
        if polling:  # a poll waits up to 50 s; the updates it would bring stay on Telegram's side
            raise Stopped

    get_updates = client.get_updates

    def interruptible_get_updates(*args, **kwargs):
        polling.append(True)
        try:
            return get_updates(*args, **kwargs)
        finally:
            polling.clear()

    client.get_updates = interruptible_get_updates
    signal.signal(signal.SIGTERM, on_term)
    logger.info(
        "bot polling Telegram for %d user(s) in %d chat(s)",
        len(bot_config["allowed_users"]),
        len(bot_config["allowed_chats"]),
    )
    with contextlib.suppress(Stopped):
        bot.run(stop=lambda: bool(stopping))
    return EXIT_OK
