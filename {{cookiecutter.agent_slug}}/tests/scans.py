"""Scans and photos for the tests, drawn by the samples' own code (scripts/make_samples.py).

Every image is made here, at test time, from text: pages rendered at a resolution, skewed,
specked with dust, set in two columns; phone photos; each image format; broken and hostile files.
"""

import importlib.util
import io
import struct
import zlib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "make_samples", PROJECT / "scripts" / "make_samples.py"
)
draw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(draw)

render_page = draw.render_page
scanned_pdf = draw.scanned_pdf
phone_photo = draw.phone_photo


def letter(full_name: str, birth: str | None, kind: str = "referral") -> list[str]:
    """Return the lines of a short French letter about one person."""
    lines = ["Cabinet médical du Dr Bérénice Leclerc", "", f"Patient: {full_name}"]
    if birth:
        lines.append(f"Date of birth: {birth}")
    lines += [
        f"Document type: {kind}",
        "Summary: Merci de recevoir ce patient pour un avis spécialisé.",
        "",
        "Très cher confrère, je vous adresse ce patient, reçu ce jour.",
    ]
    return lines


def encoded(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def page_image(lines, dpi: int = 200, **options) -> bytes:
    """Return a scanned page as a PNG."""
    return encoded(render_page(lines, dpi, **options), "PNG", dpi=(dpi, dpi))


def scan(lines, dpi: int = 300, **options) -> bytes:
    """Return a one-page PDF scan (an image, no text layer) of the lines."""
    return scanned_pdf([render_page(lines, dpi, **options)], dpi)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """Return a tiny PNG whose header declares width x height pixels (an image bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"\x00" * 1024, 9)  # far fewer rows than declared
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def big_photo(megapixels: float, lines) -> bytes:
    """Return a JPEG photo of a page with this many megapixels (a modern phone's)."""
    width = int((megapixels * 1e6 * 3 / 4) ** 0.5)
    height = int(width * 4 / 3)
    return phone_photo(lines, pixels=(width, height))


# Plain images and PDFs of a given size, for the tests of what a model is sent.
def png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def pdf(pages: int, width: int = 612, height: int = 792) -> bytes:
    """A PDF of blank pages (no text layer), US letter unless told."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=width, height=height)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(data)).size


def image_format(data: bytes) -> str:
    from PIL import Image

    return Image.open(io.BytesIO(data)).format
