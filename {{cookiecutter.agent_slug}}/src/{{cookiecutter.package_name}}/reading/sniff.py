"""What a document is, told by its first bytes (magic numbers), never by its file name.

A JPEG named .pdf is read as a JPEG; content that is none of the accepted kinds is refused with
the list of what is accepted.
"""

TEXT = "text/plain"
PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
WEBP = "image/webp"
IMAGE_TYPES = (JPEG, PNG, TIFF, WEBP)
MEDIA_TYPES = (TEXT, PDF, *IMAGE_TYPES)
ACCEPTED = "UTF-8 text, PDF, JPEG, PNG, TIFF, WebP"
NAMES = {TEXT: "text", PDF: "PDF", JPEG: "JPEG", PNG: "PNG", TIFF: "TIFF", WEBP: "WebP"}

PDF_MAGIC = b"%PDF-"
# Signatures from each format's specification: JPEG (ITU T.81, SOI marker then a marker),
# PNG (ISO 15948 §5.2), TIFF (TIFF 6.0 §2, little- and big-endian), WebP (RIFF container).
SIGNATURES = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)


def sniff(data: bytes) -> str | None:
    """Return the media type of the content, or None when it is no kind a job reads.

    Text is UTF-8 without NUL bytes; a PDF, JPEG, PNG, TIFF or WebP is told by its signature.
    """
    if data.startswith(PDF_MAGIC):
        return PDF
    for signature, media_type in SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return TEXT


def refusal(data: bytes) -> str:
    """Say why content that sniff() did not recognise is refused, and what is accepted."""
    if b"\x00" in data:
        why = "binary content"
    else:
        try:
            data.decode("utf-8")
            why = "unknown content"
        except UnicodeDecodeError as error:
            why = f"text that is not valid UTF-8 (byte {error.start})"
    return f"the file is not an accepted kind of document ({why}); accepted: {ACCEPTED}"
