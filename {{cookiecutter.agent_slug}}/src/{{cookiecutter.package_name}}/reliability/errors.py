"""The errors a command reports in one line, in a module that imports nothing heavy.

How an outside call failed (the contract's classes), the audit log that cannot be written, and the
job's data that cannot be loaded: apart from reliability/http.py, observability/audit.py and
runtime/protocol.py, so that a command which only reads the state (costs, status, review list)
handles them without importing requests, hashlib or dataclasses.
"""

from ..contract.errors import PermanentError, TransientError

__all__ = ["AuditError", "PermanentError", "SetupError", "TransientError"]


class AuditError(Exception):
    """The audit log cannot be written: the agent stops rather than act without a record."""


class SetupError(Exception):
    """The job's own data cannot be loaded (a bad file named in the settings); one line says why."""
