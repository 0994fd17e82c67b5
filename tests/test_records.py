"""The converter: every kind of file it meets, the manifest, the shards, and that it never leaves
an output half-written. All inputs are built here, in tmp_path."""

import hashlib
import io
import json
import re

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

from wnet_tf import records
from wnet_tf.data import FEATURES
from wnet_tf.images import decode_image, to_rgb

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (5, 4, 3), dtype=np.uint16)
# A smooth picture: JPEG keeps it close to the original, so a CMYK JPEG can be checked by value.
SMOOTH = np.stack([*np.meshgrid(np.linspace(40, 200, 32), np.linspace(60, 180, 24)),
                   np.full((24, 32), 120.0)], axis=-1).astype(np.uint8)
# Four colours, so that a GIF's palette holds them exactly.
FOUR = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)[
    RNG.integers(0, 4, (7, 5))]


def encode(array, fmt, mode=None, **kwargs):
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def good_files():
    """{relative path: (bytes, expected float pixels or None for lossy formats, channels)}"""
    rgba = np.dstack([RGB, RGB[..., :1]])
    palette = Image.fromarray(RGB).convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, "PNG")
    return {
        "rgb.png": (encode(RGB, "PNG"), RGB / 255, 3),
        "grey.png": (encode(RGB[..., 0], "PNG"), RGB[..., :1] / 255, 1),
        "rgba.png": (encode(rgba, "PNG"), rgba / 255, 4),
        "palette.png": (buffer.getvalue(), np.asarray(palette.convert("RGB")) / 255, 3),
        "rgb16.png": (tf.io.encode_png(RGB16).numpy(), RGB16 / 65535, 3),
        "grey16.png": (tf.io.encode_png(RGB16[..., :1]).numpy(), RGB16[..., :1] / 65535, 1),
        "one.png": (encode(RGB[:1, :1], "PNG"), RGB[:1, :1] / 255, 3),
        "img.bmp": (encode(RGB, "BMP"), RGB / 255, 3),
        "photo.jpg": (encode(SMOOTH, "JPEG", quality=95), None, 3),
        "cmyk.jpg": (encode(SMOOTH, "JPEG", mode="CMYK", quality=95), None, 3),
        "grey.jpeg": (encode(SMOOTH[..., 0], "JPEG", quality=95), None, 1),
        "sub/dir/anim.gif": (encode(FOUR, "GIF", mode="P", save_all=True,
                                    append_images=[Image.fromarray(255 - FOUR).convert("P")]),
                             FOUR / 255, 3),
    }


def bad_files():
    """{relative path: (bytes, the reason make-records gives)}"""
    jpeg = encode(SMOOTH, "JPEG")
    return {
        "truncated.jpg": (jpeg[:len(jpeg) // 2], "does not decode"),
        "text.jpg": (b"just some text\n", "not an image"),
        "empty.png": (b"", "empty file"),
        "jxl.png": (b"\x00\x00\x00\x0cJXL " + bytes(24), "unsupported format"),
    }


def write_tree(root, files):
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content[0])
    return root


@pytest.fixture
def collection(tmp_path):
    root = write_tree(tmp_path / "images", {**good_files(), **bad_files()})
    (root / "notes.txt").write_text("not looked at: not an image extension")
    return root


def read_records(paths):
    out = {}
    for record in tf.data.TFRecordDataset([str(p) for p in paths]):
        example = {k: v.numpy() for k, v in tf.io.parse_single_example(record, FEATURES).items()}
        out[example["image/path"].decode()] = example
    return out


def test_round_trip_keeps_bytes_and_pixels(collection, tmp_path):
    manifest = records.convert(records.find_source(collection), tmp_path / "out", shard_size=5)
    out = tmp_path / "out"
    written = read_records(out / s["name"] for s in manifest["shards"])
    assert sorted(written) == sorted(good_files())
    for name, (content, expected, channels) in good_files().items():
        example = written[name]
        assert example["image/encoded"] == content  # the original bytes, not re-encoded
        image = decode_image(example["image/encoded"]).numpy()
        assert image.dtype == np.float32 and image.shape[-1] == channels
        assert (example["image/height"], example["image/width"]) == image.shape[:2]
        assert example["image/channels"] == channels
        if expected is not None:
            np.testing.assert_allclose(image, expected, atol=1e-6, err_msg=name)
        assert to_rgb(image).shape == image.shape[:2] + (3,)
    formats = {n: e["image/format"].decode() for n, e in written.items()}
    assert formats["img.bmp"] == "bmp" and formats["cmyk.jpg"] == "jpeg"
    assert formats["sub/dir/anim.gif"] == "gif"


def test_cmyk_jpeg_decodes_to_its_rgb_colours(collection):
    image = decode_image((collection / "cmyk.jpg").read_bytes()).numpy()
    assert image.shape == SMOOTH.shape
    assert np.abs(image * 255 - SMOOTH).mean() < 3


def test_manifest_counts_reasons_notes_and_checksums(collection, tmp_path):
    out = tmp_path / "out"
    manifest = records.convert(records.find_source(collection), out, shard_size=5)
    assert manifest == json.loads(records.manifest_path(out, "folder-all").read_text())
    n_good, n_bad = len(good_files()), len(bad_files())
    assert manifest["source"] == "folder" and manifest["split"] == "all"
    assert manifest["counts"] == {
        "found": n_good + n_bad, "written": n_good, "skipped": n_bad,
        "skipped_by_reason": {"does not decode": 1, "not an image": 1, "empty file": 1,
                              "unsupported format": 1},
        "noted": {"16-bit": 2, "palette": 1, "cmyk": 1, "greyscale": 3, "alpha dropped": 1},
    }
    assert {s["path"]: s["reason"] for s in manifest["skipped"]} == {
        name: reason for name, (_, reason) in bad_files().items()}
    assert all("{{" not in s["detail"] for s in manifest["skipped"])  # the decoder's own words
    notes = {n["path"]: n["notes"] for n in manifest["noted"]}
    assert notes["rgb16.png"] == ["16-bit"] and notes["rgba.png"] == ["alpha dropped"]
    shards = manifest["shards"]
    assert [s["name"] for s in shards] == [f"folder-all-0000{i}-of-00003" for i in range(3)]
    assert [s["records"] for s in shards] == [5, 5, n_good - 10]
    for shard in shards:
        assert hashlib.sha256((out / shard["name"]).read_bytes()).hexdigest() == shard["sha256"]
    assert sorted(p.name for p in out.iterdir()) == [s["name"] for s in shards] + [
        "folder-all.manifest.json"]


def test_voc_tree_splits(tmp_path):
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    names = [f"2007_00000{i}" for i in range(5)]
    write_tree(voc / "JPEGImages", {f"{n}.jpg": encode(SMOOTH, "JPEG") for n in names})
    for image_set, split, chosen in [("Main", "train", names[:3]), ("Main", "val", names[3:]),
                                     ("Segmentation", "train", names[:1])]:
        listing = voc / "ImageSets" / image_set / f"{split}.txt"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text("\n".join(chosen) + "\n")
    source = records.find_source(tmp_path, split="train")  # found two levels down
    assert source.kind == "voc" and source.root == voc
    assert [f.stem for f in source.files] == names[:3]
    segmentation = records.find_source(voc, "voc", "train", image_set="segmentation")
    assert [f.stem for f in segmentation.files] == names[:1]
    manifest = records.convert(records.find_source(voc, split="val"), tmp_path / "out")
    assert manifest["shards"][0]["name"] == "voc-val-00000-of-00001"
    written = read_records([tmp_path / "out" / "voc-val-00000-of-00001"])
    assert sorted(written) == [f"JPEGImages/{n}.jpg" for n in names[3:]]
    with pytest.raises(FileNotFoundError, match="no such split list"):
        records.find_source(voc, split="trainval")


def test_bsds_tree_splits(tmp_path):
    root = tmp_path / "bsds500"
    sizes = {"train": 3, "val": 2, "test": 1}
    write_tree(root / "images", {f"{split}/{i}.jpg": encode(SMOOTH, "JPEG")
                                 for split, n in sizes.items() for i in range(n)})
    (root / "images" / "train" / "Thumbs.db").write_bytes(b"\0")  # not an image: never listed
    for split, n in [("train", 3), ("val", 2), ("test", 1), ("trainval", 5), ("all", 6)]:
        source = records.find_source(root, split=split)
        assert source.kind == "bsds" and len(source.files) == n
    manifest = records.convert(records.find_source(root, split="trainval"), tmp_path / "out")
    assert manifest["counts"]["written"] == 5
    assert "val/0.jpg" in read_records([tmp_path / "out" / "bsds-trainval-00000-of-00001"])


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_existing_output_is_refused_then_replaced_with_overwrite(tmp_path):
    root = write_tree(tmp_path / "a", {f"{i}.png": encode(RGB, "PNG") for i in range(4)})
    out = tmp_path / "out"
    records.convert(records.find_source(root), out, shard_size=1)
    before = snapshot(out)
    with pytest.raises(FileExistsError, match="--overwrite"):
        records.convert(records.find_source(root), out, shard_size=2)
    assert snapshot(out) == before
    records.convert(records.find_source(root), out, shard_size=2, overwrite=True)
    # The four old shards are gone, not mixed with the two new ones.
    assert sorted(snapshot(out)) == ["folder-all-00000-of-00002", "folder-all-00001-of-00002",
                                     "folder-all.manifest.json"]
    # Another prefix in the same folder is another output.
    records.convert(records.find_source(root), out, prefix="other")
    assert len(snapshot(out)) == 5


def test_interrupted_run_leaves_the_old_output_intact(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "a", {f"{i}.png": encode(RGB, "PNG") for i in range(6)})
    out = tmp_path / "out"
    records.convert(records.find_source(root), out, shard_size=2)
    before = snapshot(out)
    inspect, calls = records.inspect_file, []

    def interrupted(path):
        calls.append(path)
        if len(calls) == 4:  # after a shard has been written and closed
            raise KeyboardInterrupt
        return inspect(path)

    monkeypatch.setattr(records, "inspect_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        records.convert(records.find_source(root), out, shard_size=1, overwrite=True, workers=1)
    assert snapshot(out) == before  # and no staging folder is left behind


def test_tiff_and_webp_are_stored_as_lossless_png(tmp_path):
    import tifffile

    root = tmp_path / "images"
    root.mkdir()
    tifffile.imwrite(root / "deep.tif", RGB16)
    (root / "page.tiff").write_bytes(encode(RGB, "TIFF"))
    (root / "photo.webp").write_bytes(encode(RGB, "WEBP", lossless=True))
    manifest = records.convert(records.find_source(root), tmp_path / "out")
    assert manifest["counts"]["written"] == 3 and manifest["counts"]["skipped"] == 0
    written = read_records(tmp_path / "out" / s["name"] for s in manifest["shards"])
    expected = {"deep.tif": RGB16 / 65535, "page.tiff": RGB / 255, "photo.webp": RGB / 255}
    for name, pixels in expected.items():
        assert written[name]["image/format"] == b"png"
        np.testing.assert_allclose(decode_image(written[name]["image/encoded"]).numpy(), pixels,
                                   atol=1e-6, err_msg=name)
    assert {n["path"]: n["notes"][0] for n in manifest["noted"]}["deep.tif"] == \
        "tiff stored as png"


def test_sniff_format():
    assert records.sniff_format(encode(RGB, "PNG")) == "png"
    assert records.sniff_format(encode(RGB, "JPEG")) == "jpeg"
    assert records.sniff_format(encode(RGB, "GIF")) == "gif"
    assert records.sniff_format(encode(RGB, "BMP")) == "bmp"
    assert records.sniff_format(encode(RGB, "WEBP")) == "webp"
    assert records.sniff_format(b"hello") is None


def test_command_line(collection, tmp_path):
    out = tmp_path / "out"
    run = CliRunner().invoke(records.command, [str(collection), "-o", str(out), "--prefix", "p"])
    assert run.exit_code == 0, run.output
    assert re.search(r"12 of 16 images written to 1 shard\(s\); 4 skipped", run.output)
    assert "truncated.jpg: does not decode" in run.output
    again = CliRunner().invoke(records.command, [str(collection), "-o", str(out), "--prefix", "p"])
    assert again.exit_code != 0 and "--overwrite" in again.output
