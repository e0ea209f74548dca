"""Fitting images to a provider's limits (integrations/llm/images.py), and the fake model's
refusal of any attachment: it reads text only."""

import io
import os

import pytest
from PIL import Image

import scans
from {{ cookiecutter.package_name }}.integrations.llm import LLMError, images, make_provider
from {{ cookiecutter.package_name }}.integrations.llm.attachments import Attachment
from {{ cookiecutter.package_name }}.integrations.llm.images import AttachmentError

PROMPT = "Extract the patient.\n--- DOCUMENT ---\nName: Jane Doe"
# Claude's limits, written out: this file runs in agents baked without the anthropic provider.
LIMITS = images.Limits(
    max_long_edge=1568, max_short_edge=None, max_pixels=1_200_000, max_bytes=3_932_160
)


def test_the_fake_model_reads_no_attachment(fast_policy):
    provider = make_provider("fake", api_key="", base_url=None, policy=fast_policy)

    assert provider.media_types == frozenset()
    with pytest.raises(LLMError, match=r"does not read image/png"):
        provider.complete(
            system="s",
            prompt=PROMPT,
            model="fake-extractor-1",
            max_tokens=10,
            attachments=(Attachment("image/png", scans.png(10, 10)),),
        )


def test_bytes_over_the_limit_force_jpeg_at_the_same_size():
    noise = Image.frombytes("RGB", (600, 400), os.urandom(600 * 400 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    limits = images.Limits(
        max_long_edge=2000, max_short_edge=None, max_pixels=None, max_bytes=400_000
    )
    assert len(buffer.getvalue()) > limits.max_bytes

    fitted = images.fit(Attachment("image/png", buffer.getvalue(), page=3), limits)

    assert fitted.media_type == "image/jpeg"
    assert fitted.page == 3
    assert len(fitted.data) <= limits.max_bytes
    assert scans.image_format(fitted.data) == "JPEG"
    assert scans.size(fitted.data) == (600, 400)


def test_an_image_that_cannot_shrink_enough_is_refused():
    limits = images.Limits(max_long_edge=4000, max_short_edge=None, max_pixels=None, max_bytes=50)

    with pytest.raises(AttachmentError, match=r"over the 50 bytes an image may have"):
        images.fit(Attachment("image/png", scans.png(900, 900)), limits)


def test_webp_within_the_limits_goes_as_it_is_and_scaled_becomes_png():
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 300), (1, 2, 3)).save(buffer, format="WEBP")
    small = io.BytesIO()
    Image.new("RGB", (300, 30), (1, 2, 3)).save(small, format="WEBP")

    scaled = images.fit(Attachment("image/webp", buffer.getvalue()), LIMITS)
    kept = images.fit(Attachment("image/webp", small.getvalue()), LIMITS)

    assert (scaled.media_type, scans.image_format(scaled.data), scans.size(scaled.data)) == (
        "image/png",
        "PNG",
        (1568, 156),
    )
    assert kept == Attachment("image/webp", small.getvalue())
