"""The one image reader: TIFF layouts that tifffile hands back differently."""

import numpy as np
import tifffile

from wnet_tf.images import find_images, list_folder, read_image

RGB16 = np.random.default_rng(0).integers(0, 65536, (6, 5, 3), dtype=np.uint16)


def test_a_planar_tiff_reads_like_an_interleaved_one(tmp_path):
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(RGB16, -1, 0), planarconfig="separate",
                     photometric="rgb")
    tifffile.imwrite(tmp_path / "contig.tif", RGB16, planarconfig="contig", photometric="rgb")
    np.testing.assert_allclose(read_image(tmp_path / "planar.tif"), RGB16 / 65535, atol=1e-6)
    np.testing.assert_array_equal(read_image(tmp_path / "planar.tif"),
                                  read_image(tmp_path / "contig.tif"))


def test_a_multipage_tiff_gives_its_first_page(tmp_path):
    with tifffile.TiffWriter(tmp_path / "pages.tiff") as tiff:
        tiff.write(np.zeros((4, 4), np.uint8))
        tiff.write(np.full((4, 4), 255, np.uint8))
    np.testing.assert_array_equal(read_image(tmp_path / "pages.tiff"), np.zeros((4, 4, 3)))


def test_listing_splits_images_from_other_files(tmp_path):
    for name in ("a.TIF", "b.webp", "c.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    images, others = list_folder(tmp_path)
    assert [p.name for p in images] == ["a.TIF", "b.webp"] and [p.name for p in others] == ["c.txt"]
    assert find_images(tmp_path) == images
