"""Image files: which files are images, how they are read, how results are written.

Every command finds its inputs with `find_images` (one list of extensions) and reads them with
`read_image`, so `segment`, `postprocess` and `make-records` take the same files from a folder.
JPEG, PNG, BMP and GIF are decoded by TensorFlow's decoder, the one training uses
(`wnet_tf.data.decode_image`), so a model sees the pixels it was trained on; TIFF and WebP, which
TensorFlow cannot decode, are read through tifffile and Pillow (both installed with
scikit-image). The first page of a multi-page TIFF and the first frame of an animation are read.

Importing this module imports neither TensorFlow nor Pillow: post-processing's worker processes
import it and must start fast.
"""

from __future__ import annotations

import colorsys
import os
import re
from pathlib import Path

import numpy as np

from wnet_tf.files import atomic_write

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# The formats TensorFlow decodes (training reads only these; make-records transcodes the others).
TF_FORMATS = ("jpeg", "png", "gif", "bmp")
OTHER_FORMATS = ("tiff", "webp")

# First bytes of the formats read here and of common ones that are not, so that a file that is
# not read says what it is.
_SIGNATURES = {
    b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png", b"GIF87a": "gif", b"GIF89a": "gif",
    b"BM": "bmp", b"II*\x00": "tiff", b"MM\x00*": "tiff", b"II+\x00": "tiff", b"MM\x00+": "tiff",
    b"\xff\x0a": "jpeg xl", b"\x00\x00\x00\x0cJXL ": "jpeg xl",
}


class ImageError(Exception):
    """A file that cannot be read as an image; the message names the file and the reason."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def list_folder(folder, extensions=EXTENSIONS) -> tuple[list[Path], list[Path]]:
    """(images, others) under `folder`, recursively, each sorted: the files whose extension is
    one of `extensions`, and every other file. Hidden files and folders are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    images, others = [], []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith("."):
                (images if name.lower().endswith(extensions) else others).append(
                    Path(parent, name))
    return sorted(images), sorted(others)


def find_images(folder, extensions=EXTENSIONS) -> list[Path]:
    """The files under `folder` whose extension is one of `extensions` (see `list_folder`)."""
    return list_folder(folder, extensions)[0]


def named_images(paths) -> tuple[list[tuple[Path, str]], list[Path]]:
    """([(image file, output name)], [files that are not images]) for files as given and
    folders searched recursively: the one naming of every command's outputs. A file found in a
    folder keeps its relative path in its name (a/x.png -> a__x), and a name already taken gets a
    suffix (x.jpg -> x, x.png -> x-2), so that no output overwrites another's."""
    found, others, taken = [], [], set()
    for path in map(Path, paths):
        if path.is_dir():
            images, ignored = list_folder(path)
            others += ignored
            pairs = [(f, f.relative_to(path).with_suffix("").as_posix().replace("/", "__"))
                     for f in images]
        else:
            pairs = [(path, path.stem)]
        for file, name in pairs:
            unique, n = name, 1
            while unique in taken:
                n += 1
                unique = f"{name}-{n}"
            taken.add(unique)
            found.append((file, unique))
    return found, others


def sniff_format(data: bytes) -> str | None:
    """The image format named by a file's first bytes, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((fmt for sig, fmt in _SIGNATURES.items() if data.startswith(sig)), None)


def error_reason(err: BaseException) -> str:
    """The first line of an error, without TensorFlow's "{{function_node ...}}" and "[Op:...]"
    decorations."""
    text = getattr(err, "message", None) or str(err)
    lines = text.strip().splitlines() or [""]
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\].*", "", lines[0])
    return text.strip() or type(err).__name__


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, C) with C in 1..4 -> (H, W, 3): grey (C = 1, 2) repeated, alpha (C = 2, 4) dropped,
    as wnet_tf.data.to_rgb does for TensorFlow's decodes."""
    return np.ascontiguousarray(image[..., :1].repeat(3, -1) if image.shape[-1] < 3
                                else image[..., :3])


def as_float_rgb(array: np.ndarray) -> np.ndarray:
    """A decoded (H, W) or (H, W, C) array, C in 1..4, of unsigned integers or floats ->
    (H, W, 3) float32 in [0, 1]: integers divided by their type's maximum, then `to_rgb`."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or not 1 <= array.shape[-1] <= 4:
        raise ValueError(f"an image of shape {array.shape}: expected (H, W) or (H, W, 1..4)")
    if np.issubdtype(array.dtype, np.integer):
        image = array.astype(np.float32)
        image /= np.iinfo(array.dtype).max
    else:
        image = np.clip(array.astype(np.float32), 0.0, 1.0)
    return to_rgb(image)


def decode_other(data: bytes, fmt: str) -> np.ndarray:
    """TIFF (tifffile: 16-bit and float pages too) or WebP (Pillow) bytes -> a raw array."""
    import io

    if fmt == "tiff":
        import tifffile

        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            page = tiff.pages[0]
            array = page.asarray()
            # Planar ("separate") pages store each channel as a plane: (S, H, W) -> (H, W, S).
            if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and array.ndim == 3:
                array = np.moveaxis(array, 0, -1)
            return array
    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        return np.asarray(picture.convert("RGBA" if "A" in picture.getbands() else "RGB"))


def decode_native(data: bytes, fmt: str) -> np.ndarray:
    """JPEG, PNG, BMP or GIF bytes -> their integers, through the decoder training uses
    (`wnet_tf.data.decode_image` then divides them by 255 or 65535, as `as_float_rgb` does):
    converted here, in NumPy, so that TensorFlow's allocator, which keeps what it once held,
    holds only the 8-bit pixels of a large photo."""
    import tensorflow as tf

    if fmt == "png" and data[24:25] == b"\x10":  # the header's bit depth: 16
        return tf.io.decode_png(data, dtype=tf.uint16).numpy()
    return tf.io.decode_image(data, channels=0, expand_animations=False).numpy()


def decode(data: bytes, name="image") -> tuple[np.ndarray, str]:
    """An image file's bytes -> ((H, W, 3) float32 in [0, 1], format). Raises ImageError with
    the reason (not an image, an unsupported format, does not decode)."""
    if not data:
        raise ImageError(name, "empty file")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(name, f"not an image (starts with {data[:8]!r})")
    if fmt not in TF_FORMATS + OTHER_FORMATS:
        raise ImageError(name, f"unsupported format ({fmt})")
    try:
        if fmt in TF_FORMATS:
            return as_float_rgb(decode_native(data, fmt)), fmt
        return as_float_rgb(decode_other(data, fmt)), fmt
    except ImageError:
        raise
    except Exception as err:  # each decoder has its own error types; all mean the same here
        raise ImageError(name, f"does not decode as {fmt} ({error_reason(err)})") from None


def image_size(path) -> tuple[int, int] | None:
    """(height, width) from a file's header, without decoding it; None if Pillow cannot tell."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return picture.height, picture.width
    except Image.DecompressionBombError:
        # Pillow will not even open an image of more than 2 * MAX_IMAGE_PIXELS: a lower bound.
        return 2 * Image.MAX_IMAGE_PIXELS + 1, 1
    except Exception:  # the decoder will give the reason
        return None


def read_image(path, max_pixels=None) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from an image file (see the module docstring for formats).

    `max_pixels`: an image whose header says it is larger is refused before it is decoded (a
    36-Mpx JPEG decodes to 430 MB of float32; a larger one may not fit at all). Raises ImageError.
    """
    path = Path(path)
    if max_pixels is not None:
        size = image_size(path)
        if size is not None and size[0] * size[1] > max_pixels:
            raise ImageError(path, f"{size[1]}x{size[0]} pixels (or more), more than the "
                                   f"{max_pixels:,} that fit in this machine's memory")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImageError(path, f"unreadable ({err.strerror or err})") from None
    return decode(data, path)[0]


# ---------------------------------------------------------------------------------------------
# Writing results.

_GOLDEN = 0.618033988749895


def palette(k):
    """(k, 3) uint8 colours, one per class. Hues step by the golden ratio, so any number of
    classes are spread around the colour wheel and class i has the same colour for every k."""
    colours = [colorsys.hsv_to_rgb((i * _GOLDEN) % 1.0, 0.85 - 0.3 * (i // 2 % 2),
                                   0.95 - 0.3 * (i % 2)) for i in range(k)]
    return np.round(np.array(colours) * 255).astype(np.uint8)


def overlay(image, labels, k, alpha=0.5):
    """The classes' colours blended over an image: (H, W, 3) float in [0, 1] -> uint8."""
    blend = (1 - alpha) * image + alpha * palette(k)[labels] / 255.0
    return np.round(np.clip(blend, 0, 1) * 255).astype(np.uint8)


def to_uint8(image):
    """A float image in [0, 1] -> uint8."""
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def write_png(path, array):
    """Writes an (H, W) or (H, W, 1 | 3) uint8 or uint16 array as a PNG, atomically."""
    from PIL import Image

    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype not in (np.uint8, np.uint16) or (array.dtype == np.uint16 and array.ndim != 2):
        raise ValueError(f"{path}: a PNG of {array.dtype} {array.shape}: expected uint8, or "
                         "uint16 grey")
    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))
