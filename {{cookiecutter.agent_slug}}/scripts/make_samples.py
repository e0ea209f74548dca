"""Write the sample scans into samples/incoming/: a scanned referral and a phone photo.

They are drawn here, with Pillow and the font it embeds, rather than kept as binary files:
    python scripts/make_samples.py [samples/incoming]
The scanned referral is a PDF with no text layer (only a page image, as a scanner makes it); the
phone photo is a JPEG of a printed page, a little rotated, lit unevenly, slightly noisy. The
functions also make the scans the tests read (several resolutions, skew, noise, two columns).
"""

import io
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

A4_INCHES = (8.27, 11.69)
MARGIN_INCHES = 0.9
FONT_POINTS = 12
LINE_SPACING = 1.6

REFERRAL = [
    "Cabinet du Dr Lefèvre, médecine générale",
    "",
    "Patient: Youssef Benali",
    "Date of birth: 21/04/1969",
    "Document type: referral",
    "Summary: Référé en cardiologie pour un souffle découvert à l'examen.",
    "",
    "Cher confrère, je vous adresse M. Benali, reçu ce jour pour un bilan.",
    "Je vous remercie de le recevoir à votre meilleure convenance.",
]
PHOTO = [
    "Laboratoire d'analyses médicales",
    "",
    "Patient: Chidi Okafor",
    "Date of birth: 05/09/1992",
    "Document type: lab result",
    "Summary: Glycémie à jeun 0,92 g/L, dans les valeurs de référence.",
    "",
    "Résultats validés par le biologiste.",
]


def font(pixels: int) -> ImageFont.FreeTypeFont:
    """Return a font of this height in pixels: DejaVu Sans if installed, else Pillow's own."""
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if Path(path).exists():
            return ImageFont.truetype(path, pixels)
    return ImageFont.load_default(size=pixels)


def render_page(lines, dpi=300, *, columns=None, skew=0.0, noise=0.0, seed=0) -> Image.Image:
    """Draw an A4 page of text at dpi as a scanner would see it (greyscale).

    columns: a second list of lines set in a right-hand column (a two-column page); skew: degrees
    the sheet lies rotated; noise: the share of pixels flipped to specks (0 to 1).
    """
    width, height = (round(side * dpi) for side in A4_INCHES)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    size = round(FONT_POINTS * dpi / 72)
    face = font(size)
    margin = round(MARGIN_INCHES * dpi)
    column_width = (width - 3 * margin) // 2
    for column, column_lines in enumerate((lines, columns or [])):
        x = margin + column * (column_width + margin)
        y = margin
        for line in column_lines:
            draw.text((x, y), line, fill=0, font=face)
            y += round(size * LINE_SPACING)
    if skew:
        page = page.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=255, expand=False)
    if noise:
        specks(page, noise, seed)
    return page


def specks(image: Image.Image, share: float, seed: int) -> None:
    """Flip a share of the pixels to black or white specks, as dust on a scanner's glass."""
    chance = random.Random(seed)  # noqa: S311 (dust specks, not secrets)
    width, height = image.size
    pixels = image.load()
    for _ in range(int(width * height * share)):
        x, y = chance.randrange(width), chance.randrange(height)
        pixels[x, y] = chance.choice((0, 255))


def scanned_pdf(pages: list[Image.Image], dpi: int) -> bytes:
    """Return a PDF that holds only page images, no text layer: what a scanner writes."""
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", resolution=dpi, save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def phone_photo(lines, *, angle=4.0, seed=1, pixels=(2400, 3200)) -> bytes:
    """Return a JPEG of a printed page photographed by a phone: rotated, unevenly lit, noisy."""
    paper = render_page(lines, dpi=220).convert("RGB")
    scene = Image.new("RGB", pixels, (96, 84, 70))  # a wooden desk
    paper = paper.rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(96, 84, 70)
    )
    paper.thumbnail((int(pixels[0] * 0.92), int(pixels[1] * 0.92)))
    scene.paste(paper, ((pixels[0] - paper.width) // 2, (pixels[1] - paper.height) // 2))
    # A lamp on the left: the light falls off to the right and the bottom.
    light = Image.linear_gradient("L").rotate(90).resize(pixels)
    light = light.point(lambda value: 150 + value * 105 // 255)
    lit = Image.composite(scene, Image.new("RGB", pixels, (0, 0, 0)), light)
    lit = Image.blend(scene, lit, 0.55).filter(ImageFilter.GaussianBlur(0.8))
    grain = Image.effect_noise(pixels, 18).convert("RGB")
    photo = Image.blend(lit, grain, 0.06)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def write_samples(folder: Path) -> list[Path]:
    """Write the scanned referral and the phone photo into folder; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    scan = folder / "scanned-referral-youssef-benali.pdf"
    scan.write_bytes(scanned_pdf([render_page(REFERRAL, dpi=200, skew=1.5, noise=0.002)], 200))
    photo = folder / "phone-photo-lab-result-chidi-okafor.jpg"
    photo.write_bytes(phone_photo(PHOTO))
    return [scan, photo]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("samples/incoming")
    for path in write_samples(target):
        print(f"wrote {path}")
