"""The README's pictures exist and are real PNGs, the review queue's among them (`make screenshots`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PNG = b"\x89PNG\r\n\x1a\n"


def test_every_picture_the_readme_shows_is_a_png_in_the_repository() -> None:
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert "docs/images/review-queue-ui.png" in pictures and "docs/images/review-queue-cli.png" in pictures
    for picture in pictures:
        data = (ROOT / picture).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, f"{picture} is not a picture"
