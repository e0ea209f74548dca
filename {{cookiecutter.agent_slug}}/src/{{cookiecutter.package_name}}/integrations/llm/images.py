"""Fit an image to what a provider reads and bills efficiently: long edge, pixels, bytes.

Pillow is imported only here, on the first image: an agent that reads text alone never loads it.
An image is only ever scaled down; PNG stays PNG unless its bytes force JPEG.
"""

import io
import math
from typing import NamedTuple

from .attachments import Attachment
from .base import LLMError

JPEG_QUALITIES = (85, 70, 55)
# How much smaller each retry makes an image whose bytes are still too many at the lowest quality.
SHRINK_STEP = 0.75
SHRINK_ATTEMPTS = 6


class AttachmentError(LLMError):
    """An attachment no provider call could carry: too many pages or bytes, or not an image.

    Never transient: sending it again changes nothing, so the item fails with this reason.
    """

    def __init__(self, message: str):
        super().__init__(message, transient=False)


class Limits(NamedTuple):
    """What one provider accepts and bills for one image."""

    max_long_edge: int  # pixels
    max_short_edge: int | None  # pixels; None: no limit of its own
    max_pixels: int | None  # width * height; None: no limit of its own
    max_bytes: int  # the encoded image


def _pillow():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency of the agent
        raise AttachmentError(
            "reading images needs Pillow; reinstall the agent (pip install pillow)"
        ) from None
    return Image


def _open(attachment: Attachment):
    image_module = _pillow()
    try:
        image = image_module.open(io.BytesIO(attachment.data))
        image.size  # noqa: B018 (reading the header is the check)
    except (OSError, ValueError, image_module.DecompressionBombError) as error:
        raise AttachmentError(
            f"{_label(attachment)} cannot be read as {attachment.media_type}: {error}"
        ) from None
    return image


def size_of(attachment: Attachment) -> tuple[int, int]:
    """Return an image's (width, height) from its header."""
    return _open(attachment).size


def scale_for(width: int, height: int, limits: Limits) -> float:
    """Return the factor (at most 1) that brings width x height within the limits."""
    scale = min(1.0, limits.max_long_edge / max(width, height))
    if limits.max_short_edge is not None:
        scale = min(scale, limits.max_short_edge / min(width, height))
    if limits.max_pixels is not None and width * height > limits.max_pixels:
        scale = min(scale, math.sqrt(limits.max_pixels / (width * height)))
    return scale


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Return the size scaled, rounded down so that no limit is passed by a rounding."""
    if scale >= 1.0:
        return width, height
    return (
        max(1, math.floor(width * scale + 1e-9)),
        max(1, math.floor(height * scale + 1e-9)),
    )


def fit(attachment: Attachment, limits: Limits) -> Attachment:
    """Return the image scaled down to the limits, or itself when it is within them already."""
    image = _open(attachment)
    width, height = image.size
    scale = scale_for(width, height, limits)
    if scale >= 1.0 and len(attachment.data) <= limits.max_bytes:
        return attachment
    target = scaled_size(width, height, scale)
    try:
        if image.format == "JPEG" and scale < 1.0:
            image.draft(image.mode, target)  # decode a big JPEG at a fraction of its size
        image.load()
        if image.size != target:
            image = image.resize(target, _pillow().Resampling.LANCZOS)
        media_type = attachment.media_type
        if media_type not in ("image/png", "image/jpeg"):
            media_type = "image/png"
        data = _encode(image, media_type)
        shrunk = 0
        while len(data) > limits.max_bytes:
            media_type, data = "image/jpeg", _smallest_jpeg(image, limits.max_bytes)
            if len(data) <= limits.max_bytes:
                break
            if shrunk == SHRINK_ATTEMPTS:
                raise AttachmentError(
                    f"{_label(attachment)} is still {len(data)} bytes once scaled down, over "
                    f"the {limits.max_bytes} bytes an image may have"
                )
            image, shrunk = _resized(image, SHRINK_STEP), shrunk + 1
    except (OSError, ValueError) as error:
        raise AttachmentError(f"{_label(attachment)} cannot be decoded: {error}") from None
    return Attachment(media_type, data, attachment.page)


def _resized(image, scale: float):
    size = scaled_size(image.width, image.height, scale)
    return image.resize(size, _pillow().Resampling.LANCZOS)


def _encode(image, media_type: str, quality: int = JPEG_QUALITIES[0]) -> bytes:
    buffer = io.BytesIO()
    if media_type == "image/png":
        image.save(buffer, format="PNG")
    else:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _smallest_jpeg(image, max_bytes: int) -> bytes:
    data = b""
    for quality in JPEG_QUALITIES:
        data = _encode(image, "image/jpeg", quality)
        if len(data) <= max_bytes:
            break
    return data


def _label(attachment: Attachment) -> str:
    return "the image" if attachment.page is None else f"the image of page {attachment.page}"
