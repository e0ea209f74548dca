"""Photos and image files: checked and decoded with Pillow, in bounded memory.

Pillow is imported only when an image arrives. The pixel count is read from the header and
checked before any pixel is decoded, so an image bomb (a small PNG declaring 100000 x 100000)
is refused at once; Pillow's own guard (Image.MAX_IMAGE_PIXELS) is set to the same limit behind
it. JPEG photos are decoded at a reduced scale when they exceed what OCR needs (draft mode, a
fraction of the memory), turned upright as their EXIF orientation says (phones), and made
greyscale for tesseract.
"""

import io

from ..runtime.protocol import ItemFailed
from .sniff import JPEG, NAMES, TIFF

# Pixels OCR needs at most: a phone photo of a page at 12 MP reads as well as at 48 MP.
MAX_OCR_PIXELS = 12_000_000
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError)


def pillow():
    """Return PIL.Image, with its decompression-bomb guard set (Pillow is imported lazily)."""
    from PIL import Image

    return Image


def open_checked(data: bytes, media_type: str, max_pixels: int, max_frames: int):
    """Open an image (header only) and check its size and frame count against the limits."""
    image_module = pillow()
    image_module.MAX_IMAGE_PIXELS = max_pixels
    kind = NAMES[media_type]
    try:
        image = image_module.open(io.BytesIO(data))
        width, height = image.size
        frames = getattr(image, "n_frames", 1) if media_type == TIFF else 1
    except image_module.DecompressionBombError:
        raise ItemFailed(
            f"the {kind} image declares more than {max_pixels // 1_000_000} megapixels "
            "(an image bomb?)"
        ) from None
    except DECODE_ERRORS as error:
        raise ItemFailed(
            f"the {kind} image is corrupt or unreadable ({type(error).__name__})"
        ) from None
    if width <= 0 or height <= 0:
        raise ItemFailed(f"the {kind} image is empty ({width} x {height} pixels)")
    if width * height > max_pixels:
        raise ItemFailed(
            f"the {kind} image is {width} x {height} pixels ({width * height / 1e6:.0f} MP; "
            f"limit {max_pixels / 1e6:.0f} MP): send a smaller scan or photo"
        )
    if frames > max_frames:
        raise ItemFailed(f"the TIFF has {frames} pages (limit {max_frames})")
    return image, frames


def frames_for_ocr(data: bytes, media_type: str, max_pixels: int, max_frames: int):
    """Yield each page of an image (a TIFF may hold several) decoded, upright and greyscale."""
    from PIL import ImageOps

    image, frames = open_checked(data, media_type, max_pixels, max_frames)
    kind = NAMES[media_type]
    for index in range(frames):
        try:
            if frames > 1:
                image.seek(index)
                width, height = image.size
                if width * height > max_pixels:
                    raise ItemFailed(f"page {index + 1} of the TIFF exceeds {max_pixels} pixels")
            if media_type == JPEG:
                reduce_jpeg(image)
            image.load()
            page = ImageOps.exif_transpose(image) if frames == 1 else image
            page = page.convert("L")
            page = shrink(page, MAX_OCR_PIXELS)
        except ItemFailed:
            raise
        except pillow().DecompressionBombError:
            raise ItemFailed(f"the {kind} image is too large to decode (an image bomb?)") from None
        except (*DECODE_ERRORS, MemoryError) as error:
            raise ItemFailed(
                f"the {kind} image is corrupt or truncated ({type(error).__name__}: "
                f"{str(error)[:80]})"
            ) from None
        yield page


def reduce_jpeg(image) -> None:
    """Let libjpeg decode a JPEG larger than OCR needs at 1/2, 1/4 or 1/8 scale (draft mode)."""
    width, height = image.size
    if width * height <= MAX_OCR_PIXELS:
        return
    scale = (MAX_OCR_PIXELS / (width * height)) ** 0.5
    image.draft("L", (max(1, int(width * scale)), max(1, int(height * scale))))


def shrink(image, max_pixels: int):
    """Return the image scaled down to at most max_pixels (unchanged when it fits)."""
    width, height = image.size
    if width * height <= max_pixels:
        return image
    scale = (max_pixels / (width * height)) ** 0.5
    return image.resize((max(1, int(width * scale)), max(1, int(height * scale))))


def encoded(image, media_type: str) -> tuple[str, bytes]:
    """Return an image encoded for a model: JPEG stays JPEG, anything else becomes PNG."""
    buffer = io.BytesIO()
    if media_type == JPEG:
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
        return JPEG, buffer.getvalue()
    image.save(buffer, format="PNG", compress_level=3)
    return "image/png", buffer.getvalue()


def photo_attachment(data: bytes, media_type: str, max_pixels: int):
    """Return the image as a model reads it: the original JPEG or PNG, or a PNG of it."""
    from PIL import ImageOps

    image, _frames = open_checked(data, media_type, max_pixels, max_frames=1_000_000)
    orientation = image.getexif().get(0x0112, 1) if media_type == JPEG else 1
    if media_type in (JPEG, "image/png") and orientation == 1:
        return media_type, data
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (*DECODE_ERRORS, MemoryError) as error:
        raise ItemFailed(
            f"the {NAMES[media_type]} image is corrupt or truncated ({type(error).__name__})"
        ) from None
    return encoded(upright, media_type)
