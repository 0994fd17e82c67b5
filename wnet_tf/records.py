"""Image collections to sharded TFRecords: `wnet-tf make-records` and tools/make_tfrecords.py.

A source is a PASCAL VOC2012 root, a BSDS500 root or any folder of images (`find_source`; the
extensions of `wnet_tf.images`). `convert` decodes every file once with the decoder training uses
(`wnet_tf.images.decode_image`), skips the ones that fail with the reason, and writes the original
bytes (TIFF and WebP, which that decoder cannot read, re-encoded losslessly as PNG) into shards
`PREFIX-00000-of-000NN` with a manifest `PREFIX.manifest.json` beside them.

Nothing is half-written: shards are written into a hidden staging folder and moved into place only
once all of them are complete, the manifest last. An existing output is refused unless
`overwrite=True`; an interrupted run removes its staging folder and leaves the old output as it was.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import click
import numpy as np

from wnet_tf.images import (
    OTHER_FORMATS,
    TF_FORMATS,
    decode_image,
    decode_other,
    error_reason,
    find_images,
    sniff_format,
)
from wnet_tf.workers import in_threads, usable_cores

SOURCES = ("auto", "voc", "bsds", "folder")


@dataclasses.dataclass(frozen=True)
class Source:
    """The image files of one split of a collection, paths relative to `root`."""

    kind: str  # voc, bsds or folder
    root: Path
    split: str
    files: tuple[Path, ...]


@dataclasses.dataclass(frozen=True)
class Inspected:
    """What decoding one file found: a record to write (`skip` is None) or why not."""

    path: Path
    encoded: bytes = b""
    height: int = 0
    width: int = 0
    channels: int = 0
    format: str = ""
    notes: tuple[str, ...] = ()
    skip: tuple[str, str] | None = None  # (reason, detail)


# ---------------------------------------------------------------------------------------------
# Sources.


def _first_dir(*candidates: Path) -> Path | None:
    return next((c for c in candidates if c.is_dir()), None)


def _voc_root(root: Path) -> Path | None:
    return _first_dir(*(r for r in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012")
                        if (r / "JPEGImages").is_dir()))


def _bsds_images(root: Path) -> Path | None:
    return _first_dir(*(r for r in (root / "images", root / "data" / "images",
                                    root / "BSDS500" / "data" / "images",
                                    root / "BSR" / "BSDS500" / "data" / "images")
                        if (r / "train").is_dir()))


def find_source(root, kind="auto", split=None, image_set="main") -> Source:
    """The files of `split` in the collection at `root`.

    kind "voc": a VOC2012 folder (with JPEGImages/ and ImageSets/), or a folder above it; split
    train, val or trainval from ImageSets/Main (the paper's 11,530 images for trainval) or
    ImageSets/Segmentation (`image_set="segmentation"`). kind "bsds": a BSDS500 root with
    images/{train,val,test}; split one of those, trainval or all. kind "folder": every image file
    below `root`; split "all". kind "auto" recognises the first two layouts and
    otherwise takes a folder.
    """

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    if kind == "auto":
        kind = "voc" if _voc_root(root) else "bsds" if _bsds_images(root) else "folder"
    if kind == "voc":
        voc = _voc_root(root)
        if voc is None:
            raise FileNotFoundError(f"{root}: no VOC2012 JPEGImages/ folder in or below it")
        split = split or "trainval"
        lists = {"main": "Main", "segmentation": "Segmentation"}
        listing = voc / "ImageSets" / lists[image_set] / f"{split}.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"{listing}: no such split list (train, val, trainval)")
        names = listing.read_text().split()
        return Source("voc", voc, split, tuple(voc / "JPEGImages" / f"{n}.jpg" for n in names))
    if kind == "bsds":
        images = _bsds_images(root)
        if images is None:
            raise FileNotFoundError(f"{root}: no BSDS500 images/train folder in or below it")
        split = split or "train"
        parts = {"trainval": ("train", "val"), "all": ("train", "val", "test")}.get(split, (split,))
        if any(not (images / p).is_dir() for p in parts):
            raise FileNotFoundError(
                f"{images}: no {split!r} split (train, val, test, trainval, all)")
        files = tuple(f for p in parts for f in find_images(images / p))
        return Source("bsds", images, split, files)
    if split not in (None, "all"):
        raise ValueError(f"split={split!r}: a plain folder has no splits")
    return Source("folder", root, "all", tuple(find_images(root)))


# ---------------------------------------------------------------------------------------------
# Inspecting one file.


def _jpeg_components(data: bytes) -> int | None:
    """The component count in a JPEG's frame header (4 for CMYK), found by walking its markers."""
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            return data[i + 9]
        i += 2 + length
    return None


def _notes(data: bytes, fmt: str, channels: int) -> tuple[str, ...]:
    """What about a decodable file is not plain 8-bit RGB (informational, in the manifest)."""
    notes = []
    if fmt == "png" and len(data) > 25:  # IHDR: bit depth at byte 24, colour type at 25
        if data[24] == 16:
            notes.append("16-bit")
        if data[25] == 3:
            notes.append("palette")
    if fmt == "jpeg" and _jpeg_components(data) == 4:
        notes.append("cmyk")
    notes += {1: ["greyscale"], 2: ["greyscale", "alpha dropped"], 4: ["alpha dropped"]}.get(
        channels, [])
    return tuple(notes)


def _as_png(data: bytes, fmt: str) -> bytes:
    """A TIFF or WebP file re-encoded losslessly as PNG, which training's decoder reads: 8 and
    16 bits kept, floats in [0, 1] stored as 16 bits."""
    import tensorflow as tf

    array = decode_other(data, fmt)
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{array.dtype} samples: expected 8 or 16 bits, or floats")
        array = np.round(np.clip(array, 0, 1) * 65535).astype(np.uint16)
    return tf.io.encode_png(array).numpy()


def inspect_file(path: Path) -> Inspected:
    """Read and decode one file; never raises for a bad file, it returns the reason instead.
    TIFF and WebP files, which TensorFlow cannot decode, are stored re-encoded as PNG."""
    import tensorflow as tf

    try:
        data = path.read_bytes()
    except OSError as err:
        return Inspected(path, skip=("unreadable", str(err)))
    if not data:
        return Inspected(path, skip=("empty file", "0 bytes"))
    fmt = sniff_format(data)
    if fmt is None:
        return Inspected(path, skip=("not an image", f"starts with {data[:8]!r}"))
    if fmt not in TF_FORMATS + OTHER_FORMATS:
        return Inspected(path, skip=("unsupported format", fmt))
    notes = ()
    if fmt in OTHER_FORMATS:
        try:
            data, notes = _as_png(data, fmt), (f"{fmt} stored as png",)
        except Exception as err:  # tifffile and Pillow have many error types
            return Inspected(path, skip=("does not decode", f"{fmt}: {error_reason(err)}"))
    try:
        image = decode_image(data)
    except (tf.errors.InvalidArgumentError, tf.errors.ResourceExhaustedError) as err:
        return Inspected(path, skip=("does not decode", error_reason(err)))
    stored = sniff_format(data)
    height, width, channels = image.shape
    return Inspected(path, data, height, width, channels, stored,
                     notes + _notes(data, stored, channels))


# ---------------------------------------------------------------------------------------------
# Writing.


def _example(item: Inspected, relpath: str):
    import tensorflow as tf

    def feature(value):
        if isinstance(value, int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": feature(item.encoded), "image/height": feature(item.height),
        "image/width": feature(item.width), "image/channels": feature(item.channels),
        "image/format": feature(item.format.encode()), "image/path": feature(relpath.encode()),
    })).SerializeToString()


def shard_name(prefix: str, index: int, count: int) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}"


def manifest_path(output_dir, prefix: str) -> Path:
    return Path(output_dir) / f"{prefix}.manifest.json"


def existing_output(output_dir, prefix: str) -> list[Path]:
    """The shards and manifest of `prefix` already in `output_dir`."""
    output_dir = Path(output_dir)
    found = sorted(output_dir.glob(f"{prefix}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9]*"))
    manifest = manifest_path(output_dir, prefix)
    return found + [manifest] if manifest.exists() else found


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _write_shards(source: Source, staging: Path, shard_size: int, workers: int, progress: bool):
    """Inspect every file of `source` and write the good ones into `staging/part-NNNNN` files of
    `shard_size` records. Returns ([(part, records)], skipped, noted) for the manifest."""
    import tensorflow as tf
    from tqdm import tqdm

    parts, skipped, noted = [], [], []
    writer = None
    with tqdm(total=len(source.files), unit="img", disable=not progress) as bar:
        # TensorFlow's decoders release the GIL: threads; a bounded look-ahead, so that decoded
        # files never pile up in memory.
        for item in in_threads(inspect_file, source.files, workers):
            bar.update()
            relpath = item.path.relative_to(source.root).as_posix()
            if item.skip:
                skipped.append({"path": relpath, "reason": item.skip[0], "detail": item.skip[1]})
                bar.set_postfix(skipped=len(skipped))
                continue
            if item.notes:
                noted.append({"path": relpath, "notes": list(item.notes)})
            if writer is None or parts[-1][1] == shard_size:
                if writer:
                    writer.close()
                parts.append([staging / f"part-{len(parts):05d}", 0])
                writer = tf.io.TFRecordWriter(str(parts[-1][0]))
            writer.write(_example(item, relpath))
            parts[-1][1] += 1
    if writer:
        writer.close()
    return parts, skipped, noted


def convert(source: Source, output_dir, *, prefix=None, shard_size=256, workers=None,
            overwrite=False, progress=False) -> dict:
    """Write `source` as TFRecord shards of `shard_size` images; return the manifest (a dict).

    Raises FileExistsError if `output_dir` already holds shards or a manifest for `prefix`
    (default "{kind}-{split}") and `overwrite` is false.
    """
    prefix = prefix or f"{source.kind}-{source.split}"
    output_dir = Path(output_dir)
    old = existing_output(output_dir, prefix)
    if old and not overwrite:
        raise FileExistsError(f"{output_dir}: already holds {prefix!r} ({old[0].name}, ...); "
                              "pass --overwrite to replace it")
    if shard_size < 1:
        raise ValueError(f"shard_size={shard_size}: expected an integer >= 1")
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output_dir, prefix=f".{prefix}.partial-"))
    try:
        parts, skipped, noted = _write_shards(
            source, staging, shard_size, workers or usable_cores(), progress)
        names = [shard_name(prefix, i, len(parts)) for i in range(len(parts))]
        manifest = {
            "source": source.kind, "root": str(source.root.resolve()), "split": source.split,
            "counts": {
                "found": len(source.files),
                "written": sum(n for _, n in parts),
                "skipped": len(skipped),
                "skipped_by_reason": dict(collections.Counter(s["reason"] for s in skipped)),
                "noted": dict(collections.Counter(n for x in noted for n in x["notes"])),
            },
            "shards": [{"name": name, "records": n, "sha256": _sha256(part)}
                       for name, (part, n) in zip(names, parts, strict=True)],
            "skipped": skipped,
            "noted": noted,
        }
        staged_manifest = staging / "manifest.json"
        staged_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
        # Commit: renames within one folder, the manifest (what readers follow) last, then the
        # old shards that the new manifest does not list.
        for name, (part, _) in zip(names, parts, strict=True):
            os.replace(part, output_dir / name)
        os.replace(staged_manifest, manifest_path(output_dir, prefix))
        for path in old:
            if path.name not in names and path != manifest_path(output_dir, prefix):
                path.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def summary(manifest: dict) -> str:
    """A few lines for the console: counts, skipped files with reasons, notes."""
    counts = manifest["counts"]
    lines = [f"{counts['written']} of {counts['found']} images written to "
             f"{len(manifest['shards'])} shard(s); {counts['skipped']} skipped"]
    lines += [f"  skipped: {s['path']}: {s['reason']} ({s['detail']})" for s in manifest["skipped"]]
    if counts["noted"]:
        lines.append("  accepted with notes: " + ", ".join(
            f"{n} {note}" for note, n in sorted(counts["noted"].items())))
    return "\n".join(lines)


@click.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the shards and the manifest.")
@click.option("--source", type=click.Choice(SOURCES), default="auto", show_default=True,
              help="Layout of ROOT; auto recognises VOC2012 and BSDS500.")
@click.option("--split", default=None,
              help="voc: train|val|trainval (default trainval); bsds: train|val|test|trainval|all "
                   "(default train); folder: all.")
@click.option("--image-set", type=click.Choice(["main", "segmentation"]), default="main",
              show_default=True, help="voc: which ImageSets lists define the split.")
@click.option("--prefix", default=None, help="Shard name prefix [default: SOURCE-SPLIT].")
@click.option("--shard-size", default=256, show_default=True, type=click.IntRange(min=1),
              help="Images per shard.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Decoding threads [default: the cores this process may use].")
@click.option("--overwrite", is_flag=True, help="Replace an existing output with this prefix.")
def command(root, output, source, split, image_set, prefix, shard_size, workers, overwrite):
    """Convert the images under ROOT (VOC2012, BSDS500 or any folder) to sharded TFRecords.

    Every image is decoded once with the training decoder; files that fail are skipped and listed
    in the summary and in PREFIX.manifest.json, beside the shards PREFIX-00000-of-000NN.
    """
    try:
        found = find_source(root, source, split, image_set)
        click.echo(f"{found.kind} {found.split}: {len(found.files)} files under {found.root}")
        manifest = convert(found, output, prefix=prefix, shard_size=shard_size, workers=workers,
                           overwrite=overwrite, progress=True)
    except (OSError, ValueError) as err:  # a wrong root, split or existing output: no traceback
        raise click.UsageError(str(err)) from None
    click.echo(summary(manifest))
    click.echo(f"manifest: {manifest_path(output, prefix or f'{found.kind}-{found.split}')}")


if __name__ == "__main__":
    from wnet_tf.entry import configure_tensorflow

    configure_tensorflow()
    command()
