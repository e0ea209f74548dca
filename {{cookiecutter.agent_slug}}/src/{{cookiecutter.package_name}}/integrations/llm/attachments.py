"""What a job can hand the LLM besides text: a page image, a photo, a whole PDF."""

from typing import NamedTuple


class Attachment(NamedTuple):
    """One image or PDF sent with a prompt, for a model that reads them.

    media_type: "image/png", "image/jpeg", "image/webp" or "application/pdf"; page: the document
    page an image shows (1-based), None for a photo or a whole PDF.
    """

    media_type: str
    data: bytes
    page: int | None = None
