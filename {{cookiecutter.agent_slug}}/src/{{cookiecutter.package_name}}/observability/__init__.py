"""Observability: JSON logs, the tamper-evident audit log, a cost record for every LLM call."""
