"""Reading a document: what it is, and its text, whether typed, a PDF, a scan or a photo.

A job calls read_document(path, data, options) and gets a Document: its media type (told by the
content, never by the name), its text (the text layer of a PDF and the local OCR of the pages and
images without one; pages separated by "\\f", lines by "\\n"), how the text was read, and the page
images a model that reads images can be handed. This text is the document's own word: what a
model extracts is checked against it.

- sniff.py: the kind of content, by its magic bytes;
- pdf.py: the text layer (pypdf) and page rendering (pdftoppm, a bounded child process);
- images.py: photos and image files (Pillow, lazily imported; pixel limits before decoding);
- ocr.py: tesseract, a bounded child process, and the start-up check of its languages;
- tools.py: how both tools are run (timeout, memory, CPU and file-size limits, one thread).

Everything that cannot be read raises ItemFailed with the reason (the item goes to failed/); a
tool missing at run time raises TryLater.
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..integrations.llm.attachments import Attachment
from ..runtime.protocol import ItemFailed
from . import images, ocr, pdf, tools
from .sniff import ACCEPTED, IMAGE_TYPES, JPEG, MEDIA_TYPES, PDF, PNG, TEXT, refusal, sniff

__all__ = [
    "ACCEPTED",
    "IMAGE_TYPES",
    "JPEG",
    "MEDIA_TYPES",
    "PDF",
    "PNG",
    "TEXT",
    "Document",
    "ReadOptions",
    "check_ocr",
    "read_document",
    "sniff",
    "unreadable",
]

MAX_PAGES = 50
MAX_TEXT_CHARS = 20_000
MAX_IMAGE_PIXELS = 40_000_000
OCR_DPI = 300
PAGE_BREAK = "\f"


@dataclass(frozen=True)
class ReadOptions:
    """How a document is read: OCR or not, its languages and limits, page images or not.

    images: render page images of the pages without a text layer (for a model that reads
    images); the OCR needs none of them.
    """

    ocr: bool = True
    languages: str = "fra+ara+eng"
    timeout_seconds: float = 60.0
    images: bool = False
    max_pages: int = MAX_PAGES
    max_text_chars: int = MAX_TEXT_CHARS
    max_image_pixels: int = MAX_IMAGE_PIXELS
    memory_bytes: int = tools.MEMORY_LIMIT_BYTES
    work_dir: Path | None = None  # where the tools' files go (default: TMPDIR)


@dataclass(frozen=True)
class Document:
    """A document as read: see the module docstring.

    read_via: "text" | "text_layer" | "ocr" | "text_layer+ocr" | "" (nothing read locally).
    scanned_pages: the pages (1-based) that had no text layer: a scan's pages, a photo.
    """

    media_type: str
    text: str
    read_via: str
    pages: int
    images: tuple[Attachment, ...]
    data: bytes
    scanned_pages: tuple[int, ...] = field(default=())

    @property
    def needs_eyes(self) -> bool:
        """Whether some page had no text layer (a scan or a photo)."""
        return bool(self.scanned_pages)


def check_ocr(languages: str, state_dir: Path | None = None) -> None:
    """Raise SetupError unless tesseract (with these languages) and pdftoppm can run.

    With state_dir, the verdict is kept there and taken again while the files are the same.
    """
    ocr.check(languages, state_dir)


def read_document(path: Path, data: bytes, options: ReadOptions) -> Document:
    """Read a document by its content; raise ItemFailed with the reason when it cannot be."""
    if not data.strip():
        raise ItemFailed("the file is empty")
    media_type = sniff(data)
    if media_type is None:
        raise ItemFailed(refusal(data))
    if media_type == TEXT:
        text = data.decode("utf-8")[: options.max_text_chars]
        return Document(TEXT, text, "text", 1, (), data)
    with tempfile.TemporaryDirectory(prefix="reading-", dir=options.work_dir) as work:
        if media_type == PDF:
            return read_pdf(data, options, Path(work))
        return read_image(data, media_type, options, Path(work))


def read_pdf(data: bytes, options: ReadOptions, work: Path) -> Document:
    texts, areas = pdf.text_layer(data, options.max_pages, options.max_text_chars)
    scanned = tuple(number for number, text in enumerate(texts, 1) if text == "")
    source = work / "document.pdf"
    if scanned:
        source.write_bytes(data)
    ocr_used, attachments, size = False, [], sum(len(text or "") for text in texts)
    for number in scanned:
        if not (options.images or (options.ocr and size < options.max_text_chars)):
            break
        dpi = pdf.dpi_for(areas[number - 1])
        image = pdf.rasterize(
            source,
            number,
            dpi,
            timeout=options.timeout_seconds,
            memory_bytes=options.memory_bytes,
        )
        if options.images:
            attachments.append(Attachment(PNG, images.png_of(image), number))
        if options.ocr and size < options.max_text_chars:
            ocr_used = True  # a blank page is read too: it holds no text
            if not images.blank(image):
                texts[number - 1] = ocr.recognise(
                    image,
                    languages=options.languages,
                    timeout=options.timeout_seconds,
                    what=f"OCR of page {number}",
                    limit_chars=options.max_text_chars,
                    memory_bytes=options.memory_bytes,
                    dpi=dpi,
                )
                size += len(texts[number - 1])
        image.unlink()
    text_pages = len(texts) - len(scanned)
    via = "+".join(
        name for name, used in (("text_layer", text_pages > 0), ("ocr", ocr_used)) if used
    )
    text = PAGE_BREAK.join(text or "" for text in texts)
    return Document(
        PDF,
        text[: options.max_text_chars],
        via,
        len(texts),
        tuple(attachments),
        data,
        scanned,
    )


def read_image(data: bytes, media_type: str, options: ReadOptions, work: Path) -> Document:
    texts, pages = [], 0
    if options.ocr:
        for pages, page in enumerate(
            images.frames_for_ocr(data, media_type, options.max_image_pixels, options.max_pages),
            1,
        ):
            if sum(len(text) for text in texts) >= options.max_text_chars:
                continue
            image = work / f"page-{pages}.png"
            page.save(image, format="PNG", compress_level=1)
            texts.append(
                ocr.recognise(
                    image,
                    languages=options.languages,
                    timeout=options.timeout_seconds,
                    what=f"OCR of the image (page {pages})" if pages > 1 else "OCR of the image",
                    limit_chars=options.max_text_chars,
                    memory_bytes=options.memory_bytes,
                    photo=True,
                )
            )
            image.unlink()
    else:
        _image, pages = images.open_checked(
            data, media_type, options.max_image_pixels, options.max_pages
        )
    attachments = ()
    if options.images:
        kind, encoded = images.photo_attachment(data, media_type, options.max_image_pixels)
        attachments = (Attachment(kind, encoded),)
    return Document(
        media_type,
        PAGE_BREAK.join(texts)[: options.max_text_chars],
        "ocr" if options.ocr else "",
        max(pages, 1),
        attachments,
        data,
        tuple(range(1, max(pages, 1) + 1)),
    )


def unreadable(doc: Document, options: ReadOptions) -> str:
    """Say why nothing could be read in a scan or photo, and exactly what to enable."""
    what = "a scan" if doc.media_type == PDF else "a photo or image"
    if doc.media_type == PDF:
        found = f"the PDF has no text layer on its {doc.pages} page(s)"
    else:
        found = f"the {doc.media_type.split('/')[1].upper()} image holds no text layer"
    if options.ocr:
        return (
            f"{found} and OCR found no text in it (blank, or too faint to read?); a model that "
            "reads images (LLM_VISION=on) may read it"
        )
    return (
        f"{found}: it is {what} and nothing here can read it: set OCR_ENABLED=true (Debian: "
        f"{ocr.install_line(options.languages)} poppler-utils) or use a model that reads images "
        "(LLM_VISION=on)"
    )
