"""A ucm2 written as the .mat file `scipy.io.savemat(path, {"ucm2": ucm2}, do_compression=True)`
writes, a band of columns at a time, so that a 36-Mpx photo's full-size ucm2 (1.2 GB of float64)
is never held: scipy's writer holds the array and two whole copies of its bytes (3.5 GB).

The file is MATLAB 5 (the format the BSDS benchmark's files use and `scipy.io.loadmat` reads): a
128-byte header, then one zlib-compressed element holding the matrix `ucm2` (double, stored
column by column), as described in MathWorks' "MAT-File Format" (level 5).
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime

import numpy as np

from wnet_tf.files import atomic_write

# Data types and the array class of the MAT-File Format, level 5.
MI_INT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 5, 6, 9, 14, 15
MX_DOUBLE_CLASS = 6
COLUMN_BYTES = 64 * 2**20  # one band of the matrix, before compression


def header() -> bytes:
    """The 128-byte header: text, no subsystem data, version 0x0100, little-endian ("IM")."""
    text = ("MATLAB 5.0 MAT-file, written by wnet-tf, Created on: "
            + datetime.now().isoformat(sep=" ", timespec="seconds"))  # ASCII in any locale
    return text.encode("ascii").ljust(116, b" ") + bytes(8) + struct.pack("<H2s", 0x0100, b"IM")


def matrix_head(name: str, rows: int, columns: int) -> bytes:
    """The miMATRIX element of a real double `rows` x `columns` matrix up to its values: tag,
    array flags, dimensions, name (padded to 8 bytes), and the values' own tag."""
    data_bytes = rows * columns * 8
    encoded = name.encode("ascii")
    padded = encoded.ljust(-(-len(encoded) // 8) * 8, b"\0")
    size = 48 + len(padded) + data_bytes  # the four tags and the flags and dimensions, 48 bytes
    if size >= 2**32:
        raise ValueError(f"a {rows}x{columns} {name} is {size:,} bytes: more than a MATLAB 5 "
                         "file can hold (4 GiB a variable)")
    body = (struct.pack("<IIII", MI_UINT32, 8, MX_DOUBLE_CLASS, 0)
            + struct.pack("<IIii", MI_INT32, 8, rows, columns)
            + struct.pack("<II", MI_INT8, len(encoded)) + padded
            + struct.pack("<II", MI_DOUBLE, data_bytes))
    return struct.pack("<II", MI_MATRIX, size) + body


def write_ucm2(path, ucm2: np.ndarray, rows: np.ndarray | None = None,
               columns: np.ndarray | None = None) -> None:
    """Writes `ucm2[np.ix_(rows, columns)]` (default: all of it) as float64 variable `ucm2` of
    a compressed MATLAB 5 .mat file at `path`, atomically, a band of columns at a time: memory
    follows `ucm2` and one band, not the indexed matrix. `rows` and `columns` index the two axes
    (`wnet_tf.postprocess.folder.khalimsky_index` scales a hierarchy up this way)."""
    rows = np.arange(ucm2.shape[0]) if rows is None else np.asarray(rows)
    columns = np.arange(ucm2.shape[1]) if columns is None else np.asarray(columns)
    head = matrix_head("ucm2", len(rows), len(columns))
    step = max(1, COLUMN_BYTES // (8 * len(rows)))

    def write(tmp):
        with open(tmp, "wb") as fh:
            fh.write(header() + struct.pack("<II", MI_COMPRESSED, 0))  # size patched below
            zipper = zlib.compressobj()
            fh.write(zipper.compress(head))
            for start in range(0, len(columns), step):
                # Column-major: the band's columns one after another, each top to bottom.
                band = ucm2[np.ix_(rows, columns[start:start + step])]
                fh.write(zipper.compress(np.ascontiguousarray(band.T, "<f8")))
            fh.write(zipper.flush())
            size = fh.tell() - 136
            if size >= 2**32:
                raise ValueError(f"{path}: the compressed ucm2 is {size:,} bytes: more than a "
                                 "MATLAB 5 file can hold")
            fh.seek(132)
            fh.write(struct.pack("<I", size))

    atomic_write(path, write)
