"""Time: the limit of one item (SIGALRM), and the stop flag a signal handler sets."""

import gc
import signal
import threading
import time
from contextlib import contextmanager

# Python ignores an exception raised in a __del__ method or a gc callback, so an alarm that
# strikes there waits: past the time limit it strikes again this often, until it lands elsewhere.
ALARM_REPEAT_SECONDS = 0.1


class ItemTimeout(BaseException):
    """An item ran past ITEM_TIME_LIMIT_SECONDS (a PDF bomb, a stuck parse).

    A BaseException, like KeyboardInterrupt, so that no `except Exception` inside a parser can
    swallow it.
    """


class ItemClock:
    """Interrupt the job steps of an item that run past the time limit, with SIGALRM.

    Signals reach only the main thread, so elsewhere (an application embedding the agent) there is
    no limit. The alarm is held back while the agent calls the LLM and writes its own records: the
    HTTP_* settings bound those calls, and a cost record or audit entry must never be cut in half.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._holds = 0
        self._armed = False
        self._expired = False

    @contextmanager
    def limit(self):
        """Raise ItemTimeout in the block once the time limit has passed."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._alarm)
        self._armed, self._expired = True, False
        signal.setitimer(signal.ITIMER_REAL, self.seconds, ALARM_REPEAT_SECONDS)
        try:
            yield
        finally:
            self._armed = False  # first: an alarm that strikes from here on does nothing
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @contextmanager
    def hold(self):
        """Run the block whole; a time limit passed meanwhile strikes when it ends."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
        if self._holds == 0 and self._armed and self._expired:
            raise self._timeout()

    def _alarm(self, _signum, frame) -> None:
        if not self._armed:
            return
        self._expired = True
        if self._holds == 0 and not in_finalizer(frame):
            raise self._timeout()

    def _timeout(self) -> ItemTimeout:
        return ItemTimeout(
            f"processing took longer than ITEM_TIME_LIMIT_SECONDS={self.seconds:g}s "
            "(a PDF bomb or a document too complex to read?)"
        )


def in_finalizer(frame) -> bool:
    """Tell whether frame runs inside a __del__ method or a gc callback."""
    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code.co_name == "__del__" or frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False


class StopFlag:
    """Set by a signal handler, waited on by the loop: a threading.Event without its lock.

    Event.set() takes the lock that Event.wait() holds in the main thread between two of its
    steps; a SIGTERM handler calling it at that moment would wait for itself forever. Setting a
    plain attribute cannot block, and wait() looks at it every WAIT_SLICE_SECONDS.
    """

    WAIT_SLICE_SECONDS = 0.05

    def __init__(self):
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep up to timeout seconds, less once set; return whether it is set."""
        deadline = time.monotonic() + timeout
        while not self._set:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, self.WAIT_SLICE_SECONDS))
        return self._set
