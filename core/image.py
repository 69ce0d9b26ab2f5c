"""Reading photos into plain arrays.

Every image inside Headforge is ``(H, W, 3)`` ``uint8`` sRGB, rows top to bottom, RGB order. Files are
read with their EXIF orientation applied; grayscale, RGBA (composited on white), 16-bit and float images
are converted. Arrays passed in directly follow the same rules (``float`` arrays are taken as sRGB in
[0, 1]).
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

#: Largest image accepted, in pixels (about 100 megapixels; an 8000 x 8000 photo is 64 MP).
MAX_PIXELS = 100_000_000
# OpenCV refuses to decode more than this (read when it first decodes): a format PIL cannot read the
# header of is still bounded
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from .errors import ImageError, ImageTooLarge, ImageWarning  # noqa: E402

# EXIF orientation -> (transpose?, flip code for cv2.flip or None) applied in this order
_EXIF_OPS = {
    2: (False, 1), 3: (False, -1), 4: (False, 0),
    5: (True, None), 6: (True, 1), 7: (True, -1), 8: (True, 0),
}


def _exif_orientation(data: bytes) -> int:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:
        return 1


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    op = _EXIF_OPS.get(orientation)
    if op is None:
        return img
    transpose, flip = op
    if transpose:
        img = np.ascontiguousarray(np.swapaxes(img, 0, 1))
    if flip is not None:
        img = cv2.flip(img, flip)
    return img


def to_rgb8(img: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Convert an image array of any common layout to ``(H, W, 3)`` uint8 sRGB."""
    if not isinstance(img, np.ndarray):
        raise ImageError(f"Expected an image array, got {type(img).__name__}. Pass a file path or an "
                         "(H, W, 3) array.")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)) or min(img.shape[:2]) < 1:
        raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {img.shape}.")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageTooLarge(_too_large_msg(img.shape[1], img.shape[0]))
    if img.dtype == np.uint8:
        f = None
    elif img.dtype == np.uint16:
        f = img.astype(np.float32) / 65535.0
    elif np.issubdtype(img.dtype, np.floating):
        if not np.isfinite(img).all():
            raise ImageError("The image contains NaN or infinite values.")
        f = np.clip(img.astype(np.float32), 0.0, 1.0)
    elif np.issubdtype(img.dtype, np.integer) or img.dtype == bool:
        mx = 255.0 if img.max(initial=0) <= 255 else float(np.iinfo(img.dtype).max)
        f = np.clip(img.astype(np.float32) / mx, 0, 1)
    else:
        raise ImageError(f"Unsupported image dtype {img.dtype}.")
    if f is not None:
        if f.ndim == 3 and f.shape[2] == 4:
            a = f[:, :, 3:4]
            f = f[:, :, :3] * a + (1.0 - a)
        img = np.round(f * 255.0).astype(np.uint8)
    elif img.ndim == 3 and img.shape[2] == 4:
        a = img[:, :, 3:4].astype(np.uint16)
        img = ((img[:, :, :3].astype(np.uint16) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif bgr:
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def _too_large_msg(w: int, h: int) -> str:
    return (f"The image is {w} x {h} pixels ({w * h / 1e6:.0f} MP), more than Headforge handles "
            f"({MAX_PIXELS / 1e6:.0f} MP). Downscale it (4000 px on the long side is plenty) and try again.")


def _refuse_bombs(data: bytes) -> None:
    """Read the image's size from its header (nothing is decoded) and refuse more than :data:`MAX_PIXELS`:
    a small file can declare gigapixels (a decompression bomb). Formats PIL cannot read go to OpenCV,
    bounded by ``OPENCV_IO_MAX_IMAGE_PIXELS``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Image.DecompressionBombError as e:  # PIL's own limit, above ours
        m = re.search(r"\((\d+) pixels\)", str(e))
        raise ImageTooLarge(f"The image declares {int(m.group(1)) / 1e6 if m else 180:.0f} MP, more than Headforge "
                            f"handles ({MAX_PIXELS / 1e6:.0f} MP). Downscale it (4000 px on the long side is "
                            "plenty) and try again.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return
    if w * h > MAX_PIXELS:
        raise ImageTooLarge(_too_large_msg(w, h))


def _truncated(data: bytes) -> bool:
    """A JPEG without its end marker or a PNG without its end chunk: the file was cut short."""
    if data[:3] == b"\xff\xd8\xff":
        return b"\xff\xd9" not in data[-64:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-64:]
    return False


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 sRGB with EXIF orientation applied.

    Raises :class:`ImageError` for a missing, empty or unreadable file and :class:`ImageTooLarge` above
    :data:`MAX_PIXELS` (checked in the header, before decoding). A file cut short is still read (what is
    there of it) with an :class:`ImageWarning`.
    """
    p = Path(path)
    if not p.exists():
        raise ImageError(f"The photo {str(p)!r} does not exist. Check the path.")
    if p.is_dir():
        raise ImageError(f"{str(p)!r} is a folder, not a photo. Pick an image file (JPEG, PNG, TIFF, ...).")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ImageError(f"Cannot read {str(p)!r}: {e.strerror}. Check the file's permissions.") from None
    if not data:
        raise ImageError(f"The file {str(p)!r} is empty (0 bytes). Pick a photo that has image data.")
    _refuse_bombs(data)
    if _truncated(data):
        warnings.warn(f"The photo file {p.name!r} ends early (an incomplete copy or download?): part of the picture "
                      "is missing. Use a complete copy of the photo.", ImageWarning, stacklevel=2)
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ImageError(f"{str(p)!r} is not an image Headforge can read. Save it as JPEG, PNG or TIFF and "
                         "try again.")
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, [2, 1, 0, 3]]
    elif img.ndim == 3 and img.shape[2] == 3:
        img = img[:, :, ::-1]
    img = _apply_orientation(img, _exif_orientation(data))
    return to_rgb8(img)


def as_image(image) -> tuple[np.ndarray, str | None]:
    """Accept a path or an array; return ``(rgb8 array, path or None)``."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image), str(image)
    return to_rgb8(np.asarray(image) if not isinstance(image, np.ndarray) else image), None


def srgb_to_linear(c):
    """sRGB channel values in [0, 1] (a float or an array) -> linear light, float32 for arrays."""
    c = np.asarray(c, np.float32)
    return np.where(c <= 0.04045, c / 12.92, np.power((np.maximum(c, 0.04045) + 0.055) / 1.055, 2.4))


def linear_to_srgb(c):
    """Linear channel values in [0, 1] (a float or an array) -> sRGB (what a render with the Standard view
    transform writes), float32 for arrays."""
    c = np.asarray(c, np.float32)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(np.maximum(c, 0.0031308), 1 / 2.4) - 0.055)
