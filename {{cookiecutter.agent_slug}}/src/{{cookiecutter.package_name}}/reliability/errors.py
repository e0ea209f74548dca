"""How an outside call failed, for the code that decides what the item does next.

Apart from reliability/http.py so that a command which only reads the state (costs, status, review
list) handles these errors without importing requests.
"""


class TransientError(Exception):
    """Gave up on a failure that may pass; the item may be retried later."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class PermanentError(Exception):
    """The request will not succeed by retrying it (400/401/403/404/422, bad configuration)."""

    def __init__(self, message: str, status_code: int | None = None, detail: str | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
