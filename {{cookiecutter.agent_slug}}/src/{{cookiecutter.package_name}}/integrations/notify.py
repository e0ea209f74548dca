"""Where notifications go: Telegram when it is configured, else the log (and so the journal)."""

import importlib
import logging

logger = logging.getLogger(__name__)


class LogNotifier:
    """Write notifications to the log when no Telegram bot is configured."""

    name = "log"

    def send(self, text: str) -> None:
        logger.info("Notification: %s", text, extra={"notification": True})


def make_notifier(settings, policy, on_wait=None):
    """Return the Telegram notifier when a bot token and chat are set, else the log notifier."""
    if not (settings.telegram_bot_token and settings.telegram_chat_id):
        return LogNotifier()
    try:
        telegram = importlib.import_module(".telegram", __package__)
    except ModuleNotFoundError:
        logger.warning(
            "TELEGRAM_BOT_TOKEN is set but this agent was generated without Telegram; "
            "notifications go to the log"
        )
        return LogNotifier()
    notifier = telegram.TelegramNotifier(
        token=settings.telegram_bot_token,
        chat_id=settings.telegram_chat_id,
        api_base=settings.telegram_api_base,
        policy=policy,
        on_wait=on_wait,
    )
    notifier.name = "telegram"
    return notifier
