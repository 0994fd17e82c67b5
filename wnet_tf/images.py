"""Image files: which files are images, how they are decoded and read, how results are written.

The bottom of the input side: `data` (tf.data), `arrays` (NumPy), `records` (make-records) and
`inputs` decode with the functions here and take files by its one list of extensions. Every command
finds its inputs with `find_images` and reads them with `read_image`, so `segment`, `postprocess`
and `make-records` take the same files from a folder. JPEG, PNG, BMP and GIF are decoded by
TensorFlow's decoder, the one training uses (`decode_image`), so a model sees the pixels it was
trained on; `decode_image_numpy` gives the same pixels without TensorFlow. TIFF and WebP, which
TensorFlow cannot decode, are read through tifffile and Pillow (both installed with scikit-image).
The first page of a multi-page TIFF and the first frame of an animation are read.

Importing this module imports neither TensorFlow nor Pillow: post-processing's worker processes
import it and must start fast.
"""

from __future__ import annotations

import colorsys
import io
import os
import re
from pathlib import Path

import numpy as np

from wnet_tf.files import atomic_write

# The formats read here and their extensions. TensorFlow decodes TF_FORMATS, the only ones training
# reads (make-records transcodes the others to PNG).
_EXTENSIONS = {"jpeg": (".jpg", ".jpeg"), "png": (".png",), "bmp": (".bmp",), "gif": (".gif",),
               "tiff": (".tif", ".tiff"), "webp": (".webp",)}
TF_FORMATS = ("jpeg", "png", "bmp", "gif")
OTHER_FORMATS = ("tiff", "webp")
EXTENSIONS = tuple(ext for fmt in TF_FORMATS + OTHER_FORMATS for ext in _EXTENSIONS[fmt])
TF_EXTENSIONS = tuple(ext for fmt in TF_FORMATS for ext in _EXTENSIONS[fmt])

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


def to_rgb(image):
    """(H, W, C) with C in 1..4 -> (H, W, 3): grey (C = 1, 2) repeated, alpha (C = 2, 4) dropped.

    A NumPy array, or a TensorFlow tensor: inside tf.data a decoded image's channel count is
    known only when the pipeline runs, so there the choice is a tf.cond.
    """
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image[..., :1].repeat(3, -1) if image.shape[-1] < 3
                                    else image[..., :3])
    import tensorflow as tf

    # Slices, not a gather: tf.gather along the channel axis costs more than the JPEG decode.
    return tf.cond(tf.shape(image)[-1] < 3, lambda: tf.tile(image[..., :1], [1, 1, 3]),
                   lambda: image[..., :3])


def rgb_samples(array: np.ndarray) -> np.ndarray:
    """A decoded (H, W) or (H, W, C) array, C in 1..4 -> (H, W, 3) of the same type (`to_rgb`).
    Raises ValueError for any other shape."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or not 1 <= array.shape[-1] <= 4:
        raise ValueError(f"an image of shape {array.shape}: expected (H, W) or (H, W, 1..4)")
    return to_rgb(array)


def as_float_rgb(array: np.ndarray) -> np.ndarray:
    """A decoded (H, W) or (H, W, C) array, C in 1..4, of unsigned integers or floats ->
    (H, W, 3) float32 in [0, 1]: integers divided by their type's maximum, floats clipped
    (`rgb_samples` first). Converts any rows of an image as well as the whole."""
    array = rgb_samples(array)
    if np.issubdtype(array.dtype, np.integer):
        image = array.astype(np.float32)
        image /= np.iinfo(array.dtype).max
        return image
    return np.clip(array.astype(np.float32, copy=False), 0.0, 1.0)


def decode_image(encoded):
    """Encoded JPEG, PNG, BMP or GIF bytes -> float32 (H, W, C) in [0, 1], C as stored (1 to 4):
    the decoder training uses (a TensorFlow op, usable inside tf.data) and make-records checks
    every file with, so a record that converted will decode in training.

    8-bit images are divided by 255 and 16-bit PNGs by 65535; CMYK JPEGs come out as RGB; a GIF
    gives its first frame. Raises tf.errors.InvalidArgumentError on bytes that do not decode.
    """
    import tensorflow as tf

    image = tf.io.decode_image(encoded, channels=0, dtype=tf.float32, expand_animations=False)
    image.set_shape([None, None, None])
    return image


def decode_image_numpy(encoded: bytes, name="image") -> np.ndarray:
    """`decode_image` without TensorFlow, through Pillow: encoded JPEG, PNG, BMP or GIF bytes ->
    float32 (H, W, C) in [0, 1], C as stored (1 to 4). The same pixels to float32 round-off but
    for JPEGs (see wnet_tf.arrays) and 32-bit BMPs (their fourth byte is not kept).

    8-bit images are divided by 255 and 16-bit PNGs by 65535; CMYK JPEGs come out as RGB; a GIF
    gives its first frame. Raises ImageError (naming `name`) on bytes that do not decode.
    """
    from PIL import Image

    fmt = sniff_format(encoded)
    if fmt not in TF_FORMATS:
        raise ImageError(name, "empty file" if not encoded else
                         f"not a JPEG, PNG, BMP or GIF ({fmt or f'starts with {encoded[:8]!r}'})")
    try:
        with Image.open(io.BytesIO(encoded), formats=[fmt.upper()]) as picture:
            array = _samples(picture, fmt, encoded)
    except Exception as err:  # Pillow raises OSError, ValueError, SyntaxError...: all mean this
        raise ImageError(name, f"does not decode as {fmt} ({error_reason(err)})") from None
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype == np.uint16:
        return array.astype(np.float32) * np.float32(1 / 65535)
    if fmt == "png":  # TensorFlow reads 8-bit PNG samples widened to 16 bits (v * 257)
        return (array.astype(np.float32) * 257) * np.float32(1 / 65535)
    return array.astype(np.float32) * np.float32(1 / 255)


def _samples(picture, fmt, encoded) -> np.ndarray:
    """A Pillow image -> uint8 or uint16 (H, W[, C]), the samples TensorFlow's decoder gives."""
    mode = picture.mode
    rawmode = picture.tile[0].args if fmt == "png" and picture.tile else ""
    if rawmode in ("RGB;16B", "RGBA;16B", "LA;16B"):
        return _png16(encoded, rawmode)
    if fmt == "gif":  # first frame as RGB; TensorFlow leaves transparent pixels black
        rgb = np.asarray(picture.convert("RGB"))
        clear = picture.info.get("transparency")
        return rgb if clear is None else np.where((np.asarray(picture) == clear)[..., None], 0, rgb)
    if mode == "CMYK":
        # TensorFlow's conversion (jpeg_mem.cc) in integers, on Pillow's (Adobe-uninverted) CMYK.
        ink = 255 - np.asarray(picture).astype(np.uint16)
        return (ink[..., :3] * ink[..., 3:] // 255).astype(np.uint8)
    if mode == "P" and fmt == "bmp":
        return np.asarray(picture)  # TensorFlow reads an 8-bit BMP's indices as grey levels
    if mode == "P":
        return np.asarray(picture.convert("RGBA" if "transparency" in picture.info else "RGB"))
    if mode == "1":
        return np.asarray(picture.convert("L"))
    return np.asarray(picture)


def _png16(encoded, rawmode) -> np.ndarray:
    """A 16-bit colour or grey-alpha PNG as uint16 (H, W, C). Pillow keeps only the high byte of
    each sample, so the rows are read again with another unpacking of the same bits: as
    little-endian samples (the low bytes), or for grey-alpha as four plain bytes a pixel."""
    from PIL import Image

    def read(raw):
        with Image.open(io.BytesIO(encoded), formats=["PNG"]) as picture:
            # `tile` (ImageFile's decoding plan, documented for plugins) is the only way Pillow
            # offers to read the same bits with another raw mode; `_replace` is namedtuple's
            # public method, not a private one.
            picture.tile = [picture.tile[0]._replace(args=raw)]
            return np.asarray(picture).astype(np.uint16)

    if rawmode == "LA;16B":
        octets = read("RGBA")  # L high, L low, A high, A low
        return octets[..., 0::2] << 8 | octets[..., 1::2]
    return read(rawmode) << 8 | read(rawmode[:-1] + "L")


def decode_other(data: bytes, fmt: str) -> np.ndarray:
    """TIFF (tifffile: 16-bit and float pages too) or WebP (Pillow) bytes -> a raw array."""
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
    (`decode_image` then divides them by 255 or 65535, as `as_float_rgb` does):
    converted here, in NumPy, so that TensorFlow's allocator, which keeps what it once held,
    holds only the 8-bit pixels of a large photo."""
    import tensorflow as tf

    if fmt == "png" and data[24:25] == b"\x10":  # the header's bit depth: 16
        return tf.io.decode_png(data, dtype=tf.uint16).numpy()
    return tf.io.decode_image(data, channels=0, expand_animations=False).numpy()


def decode_samples(data: bytes, name="image") -> tuple[np.ndarray, str]:
    """An image file's bytes -> ((H, W, 3) samples as stored, format): uint8 or uint16 (floats
    for a float TIFF), a quarter of the float32 image's memory for an 8-bit photo;
    `as_float_rgb` gives the float32 image. Raises ImageError with the reason (not an image, an
    unsupported format, does not decode)."""
    if not data:
        raise ImageError(name, "empty file")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(name, f"not an image (starts with {data[:8]!r})")
    if fmt not in TF_FORMATS + OTHER_FORMATS:
        raise ImageError(name, f"unsupported format ({fmt})")
    try:
        array = decode_native(data, fmt) if fmt in TF_FORMATS else decode_other(data, fmt)
        return rgb_samples(array), fmt
    except ImageError:
        raise
    except Exception as err:  # each decoder has its own error types; all mean the same here
        raise ImageError(name, f"does not decode as {fmt} ({error_reason(err)})") from None


def decode(data: bytes, name="image") -> tuple[np.ndarray, str]:
    """An image file's bytes -> ((H, W, 3) float32 in [0, 1], format) (`decode_samples`)."""
    samples, fmt = decode_samples(data, name)
    return as_float_rgb(samples), fmt


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


def read_samples(path, max_pixels=None) -> np.ndarray:
    """(H, W, 3) samples as stored (`decode_samples`: uint8, uint16, or floats) from an image
    file; `as_float_rgb` of them is `read_image`'s image. For what keeps a large photo (a
    100-Mpx JPEG: 300 MB of uint8 against 1.2 GB of float32), converting only what is used.

    `max_pixels`: an image whose header says it is larger is refused before it is decoded.
    Raises ImageError."""
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
    return decode_samples(data, path)[0]


def read_image(path, max_pixels=None) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from an image file (see the module docstring for formats),
    `read_samples` converted; `max_pixels` as there. Raises ImageError."""
    return as_float_rgb(read_samples(path, max_pixels))


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
