#!/usr/bin/env python3
"""Write an image-only PDF as a scanner makes one: a page of text turned to pixels, no text layer.

Usage: make-scan.py TEXT_FILE OUTPUT_PDF

The page is A4 at 300 dpi, grey, slightly rotated and blurred, with the lines of TEXT_FILE in a
sans-serif font; Pillow saves it as a one-page PDF whose only content is the image. On a user
error (no font, unreadable input) prints one line on stderr and exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

DPI = 300
# A4 at 300 dpi.
PAGE_SIZE = (2480, 3508)
MARGIN = 200
FONT_SIZE = 44
LINE_HEIGHT = 72
SKEW_DEGREES = 0.6
BLUR_RADIUS = 0.6
# Fonts with Latin accents, as Debian installs them (fonts-dejavu-core, fonts-liberation).
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
)


def find_font() -> Path:
    """Return the first installed font of FONTS."""
    for candidate in FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit(
        "make-scan: no TrueType font to render the page with; install one: apt-get install "
        "fonts-dejavu-core"
    )


def render(lines: list[str], font_path: Path) -> Image.Image:
    """Draw the lines on a white page and make it look scanned."""
    page = Image.new("L", PAGE_SIZE, 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(font_path), FONT_SIZE)
    for number, line in enumerate(lines):
        draw.text((MARGIN, MARGIN + number * LINE_HEIGHT), line, fill=0, font=font)
    skewed = page.rotate(SKEW_DEGREES, resample=Image.Resampling.BICUBIC, fillcolor=255)
    return skewed.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))


def main(argv: list[str]) -> int:
    """Render TEXT_FILE to OUTPUT_PDF."""
    if len(argv) != 2:
        print("usage: make-scan.py TEXT_FILE OUTPUT_PDF", file=sys.stderr)
        return 2
    source, output = Path(argv[0]), Path(argv[1])
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        print(f"make-scan: cannot read {source}: {error}", file=sys.stderr)
        return 1
    render(lines, find_font()).save(output, "PDF", resolution=DPI)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
