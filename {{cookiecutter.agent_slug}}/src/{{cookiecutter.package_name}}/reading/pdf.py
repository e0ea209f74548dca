"""PDFs: the text layer of each page (pypdf), and page images of the pages without one (pdftoppm).

Why pdftoppm (Debian's poppler-utils) rather than pypdfium2 to rasterize: it is a Debian package,
kept up to date by the distribution's security team, and it runs as a child process, so a
hostile page that makes the renderer loop, crash or allocate without end costs the agent nothing
but that child: the timeout, the memory limit and the CPU limit of tools.run bound it, the
agent's own memory and state stay whole. pypdfium2 renders in-process: a crash in PDFium would
take the agent down, and only the item's time limit (SIGALRM, which native code does not heed)
would bound a stuck render. pypdf, pure Python, keeps reading the text layer in-process, as
before; the item's time limit bounds it.
"""

import io
import math

from ..runtime.protocol import ItemFailed
from . import tools

MAX_DPI = 300
MIN_DPI = 50
# A page is rasterized at MAX_DPI unless it would exceed this many pixels (an A4 page at 300 dpi
# is 2480 x 3508 = 8.7 MP); larger pages are rendered at the resolution that fits.
MAX_PAGE_PIXELS = 9_000_000
# A page whose text layer holds fewer visible characters than this is treated as a scan (a
# scanner's page number or stamp is not the document's text).
MIN_TEXT_CHARS = 16
POINTS_PER_INCH = 72
PARSE_ERRORS = (
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    RecursionError,
    OSError,
)


def text_layer(data: bytes, max_pages: int, max_chars: int) -> tuple[list[str | None], list[float]]:
    """Return each page's text layer and its area in square inches.

    A page without a text layer has ""; once max_chars have been read, the pages after are not
    read at all (None): the document is long enough to be understood.
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ItemFailed("the PDF is encrypted; send it without a password")
        count = len(reader.pages)
        if count > max_pages:
            raise ItemFailed(f"the PDF has {count} pages (limit {max_pages})")
        if count == 0:
            raise ItemFailed("the PDF has no pages")
        texts, areas, size = [], [], 0
        for page in reader.pages:
            box = page.mediabox
            areas.append(abs(float(box.width) * float(box.height)) / POINTS_PER_INCH**2)
            if size >= max_chars:
                texts.append(None)
                continue
            text = page.extract_text() or ""
            if len("".join(text.split())) < MIN_TEXT_CHARS:
                text = ""
            texts.append(text.strip())
            size += len(text)
    except ItemFailed:
        raise
    except (PyPdfError, *PARSE_ERRORS) as error:
        raise ItemFailed(f"the PDF is corrupt or unreadable ({type(error).__name__})") from None
    return texts, areas


def dpi_for(area_square_inches: float) -> int:
    """Return the resolution a page is rendered at: MAX_DPI, less when that exceeds the cap."""
    if not math.isfinite(area_square_inches) or area_square_inches <= 0:
        return MAX_DPI
    fitting = math.sqrt(MAX_PAGE_PIXELS / area_square_inches)
    return int(max(MIN_DPI, min(MAX_DPI, fitting)))


def rasterize(pdf_path, page: int, dpi: int, *, timeout: float, memory_bytes: int):
    """Render one page (1-based) to a greyscale PNG beside pdf_path; return its path."""
    prefix = pdf_path.parent / f"page-{page}"
    tools.run(
        [
            "pdftoppm",
            "-f",
            str(page),
            "-l",
            str(page),
            "-r",
            str(dpi),
            "-gray",
            "-png",
            "-singlefile",
            pdf_path.name,
            prefix.name,
        ],
        cwd=pdf_path.parent,
        timeout=timeout,
        what=f"rendering page {page} of the PDF",
        memory_bytes=memory_bytes,
    )
    image = prefix.with_suffix(".png")
    if not image.exists():
        raise ItemFailed(f"rendering page {page} of the PDF produced no image (a corrupt page?)")
    return image
