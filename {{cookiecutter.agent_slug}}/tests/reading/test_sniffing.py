"""Documents are told by their content: every accepted kind, renamed files, truncated files.

The images are drawn at test time and read by the real tesseract and pdftoppm.
"""

from pathlib import Path

import pytest

import scans
from {{ cookiecutter.package_name }}.reading import (
    ACCEPTED,
    JPEG,
    PDF,
    TEXT,
    ReadOptions,
    read_document,
    sniff,
)
from {{ cookiecutter.package_name }}.runtime.protocol import ItemFailed

LINES = scans.letter("Youssef Benali", "21/04/1969")
OPTIONS = ReadOptions(languages="fra+eng", timeout_seconds=60)


@pytest.fixture(scope="module")
def page():
    return scans.render_page(LINES, 200)


@pytest.fixture(scope="module")
def kinds(page):
    """Return media type -> the same page in that format."""
    return {
        "image/png": scans.encoded(page, "PNG"),
        "image/jpeg": scans.encoded(page, "JPEG", quality=90),
        "image/tiff": scans.encoded(page, "TIFF", compression="tiff_deflate"),
        "image/webp": scans.encoded(page, "WEBP", lossless=True),
        PDF: scans.scanned_pdf([page], 200),
    }


def test_each_accepted_kind_is_told_by_its_bytes(kinds):
    for media_type, data in kinds.items():
        assert sniff(data) == media_type
    assert sniff("Patient: Zoë Martin\n".encode()) == TEXT
    big_endian_tiff = b"MM\x00*" + b"\x00" * 16
    assert sniff(big_endian_tiff) == "image/tiff"


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00",
        b"PK\x03\x04\x14\x00\x06\x00",  # a .docx is a zip
        b"MZ\x90\x00\x03\x00\x00\x00",
        "Patient: Zoë".encode("latin-1"),
        b"RIFF\x10\x00\x00\x00WAVEfmt ",  # RIFF, but not WebP
    ],
    ids=["gif", "zip", "exe", "latin-1 text", "wav"],
)
def test_an_unknown_content_is_refused_with_the_accepted_kinds(data):
    assert sniff(data) is None
    with pytest.raises(ItemFailed) as refused:
        read_document(Path("scan.pdf"), data, OPTIONS)

    assert f"accepted: {ACCEPTED}" in str(refused.value)


@pytest.mark.parametrize("media_type", ["image/png", "image/jpeg", "image/tiff", "image/webp", PDF])
def test_each_kind_is_read_with_local_ocr(kinds, media_type):
    doc = read_document(Path("document.bin"), kinds[media_type], OPTIONS)

    assert doc.media_type == media_type
    assert doc.read_via == "ocr"
    assert doc.needs_eyes and doc.scanned_pages == (1,) and doc.pages == 1
    assert "Benali" in doc.text and "21/04/1969" in doc.text
    assert doc.data == kinds[media_type]


def test_a_jpeg_named_pdf_is_read_as_a_jpeg_and_a_text_named_pdf_as_text(kinds):
    photo = read_document(Path("scan.pdf"), kinds["image/jpeg"], OPTIONS)
    text = read_document(Path("scan.pdf"), b"Patient: Jane Doe\n", OPTIONS)

    assert photo.media_type == JPEG and "Benali" in photo.text
    assert (text.media_type, text.read_via, text.text) == (TEXT, "text", "Patient: Jane Doe\n")


@pytest.mark.parametrize(
    ("media_type", "words"),
    [
        ("image/png", "PNG image is corrupt"),
        ("image/jpeg", "JPEG image is corrupt"),
        ("image/tiff", "TIFF image is corrupt"),
        ("image/webp", "WebP image is corrupt"),
        (PDF, "PDF is corrupt"),
    ],
)
def test_a_truncated_file_fails_with_a_reason(kinds, media_type, words):
    data = kinds[media_type]
    with pytest.raises(ItemFailed, match=words):
        read_document(Path("cut"), data[: len(data) // 2], OPTIONS)


def test_a_header_alone_fails_with_a_reason():
    for data, words in (
        (b"\x89PNG\r\n\x1a\n", "PNG image is corrupt"),
        (b"\xff\xd8\xff\xe0", "JPEG image is corrupt"),
        (b"II*\x00", "TIFF image is corrupt"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WebP image is corrupt"),
    ):
        with pytest.raises(ItemFailed, match=words):
            read_document(Path("header"), data, OPTIONS)


def test_an_image_bomb_is_refused_before_any_pixel_is_decoded():
    bomb = scans.png_declaring(100_000, 100_000)

    with pytest.raises(ItemFailed, match=r"megapixels"):
        read_document(Path("bomb.png"), bomb, OPTIONS)
    with pytest.raises(ItemFailed, match="MP"):
        read_document(Path("wide.png"), scans.png_declaring(9_000, 5_000), OPTIONS)


def test_a_scan_with_ocr_off_is_read_by_nothing_and_keeps_its_page_images(kinds):
    off = ReadOptions(ocr=False, images=True)
    doc = read_document(Path("scan.pdf"), kinds[PDF], off)
    photo = read_document(Path("photo.jpg"), kinds["image/jpeg"], off)

    assert (doc.read_via, doc.text, doc.scanned_pages) == ("", "", (1,))
    assert [(image.media_type, image.page) for image in doc.images] == [("image/png", 1)]
    assert doc.images[0].data.startswith(b"\x89PNG")
    assert (photo.read_via, photo.text) == ("", "")
    assert photo.images[0].media_type == JPEG and photo.images[0].data == kinds["image/jpeg"]


def test_a_multi_page_scan_is_read_page_by_page_with_page_breaks():
    pages = [
        scans.render_page(scans.letter(name, None), 150) for name in ("Jane Doe", "Chidi Okafor")
    ]
    doc = read_document(Path("two.pdf"), scans.scanned_pdf(pages, 150), OPTIONS)

    first, second = doc.text.split("\f")
    assert "Doe" in first and "Okafor" in second
    assert (doc.pages, doc.scanned_pages) == (2, (1, 2))
