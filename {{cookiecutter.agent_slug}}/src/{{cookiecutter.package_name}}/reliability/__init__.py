"""Reliability: the crash-safe inbox, atomic files, bounded jittered HTTP retries."""
