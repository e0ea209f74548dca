"""How an outside call failed, for the code that decides what happens next.

TransientError(message, status_code=None)           may pass: retry later, keep the message
PermanentError(message, status_code=None, detail=None)   retrying cannot fix it
"""


class TransientError(Exception):
    """Gave up on a failure that may pass; the work may be retried later."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class PermanentError(Exception):
    """The request will not succeed by retrying it (400/401/403/404/422, bad configuration)."""

    def __init__(self, message: str, status_code: int | None = None, detail: str | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
