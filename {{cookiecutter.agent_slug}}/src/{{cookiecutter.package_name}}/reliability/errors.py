"""How an outside call failed: the contract's error classes, under the name the agent's modules use.

Apart from reliability/http.py so that a command which only reads the state (costs, status, review
list) handles these errors without importing requests.
"""

from ..contract.errors import PermanentError, TransientError

__all__ = ["PermanentError", "TransientError"]
