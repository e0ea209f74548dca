"""Safe names for the items the agent takes in (the crash-safe file operations: contract.files)."""

import re
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 120
MAX_SUFFIX_CHARS = 10  # the dot included
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """Turn any file name into one that is harmless in a shell, a URL and a log line."""
    # Fold first (NFKD may turn one character into dots), then split at the last dot, even for a
    # name that is all extension: "名前.pdf" folds to ".pdf" and must stay a PDF.
    base = Path(name).name
    stem, dot, extension = ascii_fold(base).rpartition(".")
    if not dot or (not stem and base.startswith(".")):  # no extension, or a dotfile: ".profile"
        stem, extension = extension, ""
    # Cut before stripping, so that a second pass finds nothing left to cut or strip.
    extension = SAFE_NAME.sub("_", extension)[: MAX_SUFFIX_CHARS - 1].strip("._-")
    suffix = f".{extension}" if extension else ""
    stem = SAFE_NAME.sub("_", stem)[: MAX_NAME_BYTES - len(suffix)].strip("._-")
    return (stem or "item") + suffix


def ascii_fold(text: str) -> str:
    """Drop accents and every non-ASCII character: 'résumé' -> 'resume'."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
