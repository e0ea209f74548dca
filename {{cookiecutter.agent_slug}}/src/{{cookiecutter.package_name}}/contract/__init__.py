"""The contract between an agent and the host tools that read its state, stdlib only.

The agent imports it as ``<package>.contract``; the health role ships the same files next to
agentctl, which imports them as ``agentctl.contract``. Hence: only relative imports inside, nothing
outside the standard library of Python 3.11, and no template syntax (the files are copied as they
are). One concern per module:

- ``layout``: the state folders, the file names in them, the slug rule and the names it derives.
- ``files``: atomic writes, once-only creates, renames that never replace, free names.
- ``redact``: the one marker and the one set of patterns that keep secrets out of text.
- ``envfile``: the ``.env`` format the agent role writes: a strict reader and the writer.
- ``times``: ISO timestamps, days (today, yesterday, Nd, YYYY-MM-DD), their bounds, durations.
- ``costs``: cost records (one JSON-lines file per UTC day), read as Decimal amounts.
- ``heartbeat``: the heartbeat file, read.
- ``audit``: audit log lines read from the end, the chain head, counts over a time range.
- ``anchor``: audit chain heads kept off the box (anchor file, digest lines), checked against.
- ``errors``: TransientError and PermanentError, how an outside call failed.
- ``retry``: bounded attempts, full-jitter backoff, a server's own wait honoured.
- ``telegram``: the Bot API's sendMessage over urllib: split, escape, retries, chat migration.
- ``botapi``: a bot's Bot API methods on that client: getUpdates, buttons, edits, presses.
- ``health``: the checks over an agent's state, their thresholds given by the caller.
- ``commandline``: the argument parser both command lines use: one-line errors, cheap help.
"""
