"""agentctl's exit codes and the errors its commands raise."""

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """The user asked for something impossible; the message says what, why and how to fix it."""


class DeliveryError(Exception):
    """Telegram did not take a message. `keep` says whether to try again on the next run."""

    def __init__(self, message: str, keep: bool):
        super().__init__(message)
        self.keep = keep
