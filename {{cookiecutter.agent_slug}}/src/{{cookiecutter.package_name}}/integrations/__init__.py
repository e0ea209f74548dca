"""Integrations: LLM providers and the Telegram notifier."""
