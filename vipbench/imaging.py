"""Image loading shared by every stage: one place that decides how odd PNGs become RGB."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vipbench.errors import DataError


def load_rgb(path: Path) -> Image.Image:
    """Open an image as RGB.

    Palette and RGBA files are converted with a plain ``convert("RGB")``, which drops alpha the way the
    official LLaVA preprocessing does, so pixels match the paper's pipeline.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB") if image.mode != "RGB" else image.copy()
    except FileNotFoundError:
        raise DataError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def pad_to_square(image: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """LLaVA's ``expand2square``: centre the image on a square canvas of ``fill`` colour."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def image_size(path: Path) -> tuple[int, int]:
    """(W, H) from the file's header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise DataError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError):
        raise DataError(f"cannot read image {path}") from None
