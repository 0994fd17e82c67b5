"""`wnet-tf view`: one self-contained page for a folder of `postprocess` outputs, which opens from
the file system with no server and no network.

The page is DIR/index.html and DIR/index_files/: the scripts and style (copied from `static/`),
index.js (the images and the evaluations), thumbs/NAME.jpg and data/NAME.js, one image's hierarchy,
photo and W-Net segments, which the page loads only when the image is opened. Scripts are classic,
not modules, and data files are scripts, not JSON: Chromium loads neither modules nor fetched files
from file://.

A hierarchy is written as its sorted distinct levels and, for every ucm2 cell, the index of its
level (zlib, base64). The page compares indices, never rounded values, so its cut at any threshold
is exactly `wnet_tf.bsds.cut_hierarchy`'s.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wnet_tf.images import EXTENSIONS
from wnet_tf.view.results import find_evaluations, read_evaluation

ASSETS = "index_files"
STATIC = Path(__file__).parent / "static"
SCRIPTS = ("cut.js", "view.js")
THUMB = 240  # the longest side of a thumbnail, in pixels


class ViewError(Exception):
    """Nothing to show: the message names the folder or the files."""


@dataclass(frozen=True)
class Source:
    """The files of one image: its ucm2 .mat, and where present its photo and label map."""

    name: str
    ucm: Path
    image: Path | None = None
    labels: Path | None = None


# What postprocess and segment write beside their inputs: never photos.
_OUTPUTS = ("_ucm", "_cut", "_labels", "_overlay")


def _by_stem(folder, suffix=""):
    """{name: path} for the image files NAME<suffix>.<ext> in `folder` (without a suffix, not
    the outputs of postprocess or segment)."""
    if not Path(folder).is_dir():
        return {}
    found = {}
    for path in sorted(Path(folder).iterdir()):
        stem = path.stem
        if path.suffix.lower() not in EXTENSIONS or not path.is_file():
            continue
        if (stem.endswith(suffix) if suffix else not stem.endswith(_OUTPUTS)):
            found.setdefault(stem[: len(stem) - len(suffix)], path)
    return found


def find_sources(folder, images=None, segments=None):
    """The images to show: every NAME.mat in `folder`, paired with NAME.<image ext> from `images`
    (default: `folder` itself, else its sibling `images/`) and NAME_labels.png from `segments`
    (default: `folder`, else the sibling `segments/`). Returns (sources, problems)."""
    folder = Path(folder)
    mats = sorted(folder.glob("*.mat"))
    photos = _by_stem(images) if images else (
        _by_stem(folder) or _by_stem(folder.parent / "images"))
    labels = _by_stem(segments, "_labels") if segments else (
        _by_stem(folder, "_labels") or _by_stem(folder.parent / "segments", "_labels"))
    if not mats:
        found = f" ({len(photos)} images, but no hierarchy)" if photos else ""
        raise ViewError(f"{folder} holds no NAME.mat ucm2 hierarchies{found}: run "
                        "`wnet-tf postprocess --out` into it first")
    names = [m.stem for m in mats]
    problems = []
    if missing := [n for n in names if n not in photos]:
        hint = "" if photos else f" (no images in {images or folder}: give --images)"
        problems.append(f"no image for {_list(missing)}: shown without a photo{hint}")
    if extra := sorted(set(photos) - set(names)):
        problems.append(f"no hierarchy for {_list(extra)}: not shown")
    sources = [Source(m.stem, m, photos.get(m.stem), labels.get(m.stem)) for m in mats]
    return sources, problems


def _list(names, most=10):
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def encode(array):
    """An integer array as the page decodes it: little-endian, zlib, base64."""
    top = int(array.max(initial=0))
    dtype = "<u1" if top < 2**8 else "<u2" if top < 2**16 else "<u4"
    data = zlib.compress(np.ascontiguousarray(array, dtype).tobytes(), 6)
    return {"bytes": np.dtype(dtype).itemsize, "data": base64.b64encode(data).decode("ascii")}


def read_ucm2(path):
    """The (2H+1, 2W+1) float64 ucm2 of a .mat file; ValueError naming the file otherwise."""
    import scipy.io

    try:
        ucm2 = np.asarray(scipy.io.loadmat(path)["ucm2"], np.float64)
    except KeyError:
        raise ValueError(f"{path.name}: no variable 'ucm2'") from None
    except Exception as err:  # scipy raises several types for a damaged file
        raise ValueError(f"{path.name}: unreadable .mat ({err})") from None
    if ucm2.ndim != 2 or ucm2.shape[0] % 2 == 0 or ucm2.shape[1] % 2 == 0 or min(ucm2.shape) < 3:
        raise ValueError(f"{path.name}: ucm2 of shape {ucm2.shape} is not (2H+1, 2W+1)")
    if not np.isfinite(ucm2).all():
        raise ValueError(f"{path.name}: ucm2 holds NaN or infinite values")
    return ucm2


def _jpeg(picture, quality):
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_image(source, out):
    """Writes one image's thumbnail and data file into `out` (the assets folder); returns its
    entry in the index and a list of problems. ValueError if the hierarchy is unreadable."""
    from PIL import Image

    ucm2 = read_ucm2(source.ucm)
    height, width = (ucm2.shape[0] - 1) // 2, (ucm2.shape[1] - 1) // 2
    # Most cells are 0: sorting only the others is ten times faster than np.unique(ucm2).
    levels = np.union1d([0.0], ucm2[ucm2 != 0])
    index = np.searchsorted(levels, ucm2)
    data = {"width": width, "height": height, "levels": levels.tolist(),
            "ucm": encode(index)}
    problems = []
    picture = None
    if source.image is not None:
        try:
            picture = Image.open(source.image)
            picture.load()
            if picture.size != (width, height):
                problems.append(f"{source.image.name} is {picture.width}x{picture.height}, its "
                                f"hierarchy {width}x{height}: shown without the photo")
                picture = None
        except Exception as err:
            problems.append(f"{source.image.name}: unreadable image ({err})")
            picture = None
    if picture is not None:
        # A JPEG goes in as it is; the page draws it on a canvas to paint mean colours, which a
        # data: URL allows and a file:// URL does not.
        raw = source.image.read_bytes() if picture.format == "JPEG" else _jpeg(picture, 92)
        data["photo"] = "data:image/jpeg;base64," + base64.b64encode(raw).decode("ascii")
        thumb = picture.convert("RGB")
    else:
        strength = ucm2 / max(ucm2.max(), 1e-12)
        thumb = Image.fromarray(np.round(255 * strength[::2, ::2]).astype(np.uint8))
    if source.labels is not None:
        try:
            segments = np.asarray(Image.open(source.labels))
        except Exception as err:
            segments = None
            problems.append(f"{source.labels.name}: unreadable label map ({err})")
        if segments is not None and segments.shape == (height, width):
            data["segments"] = encode(segments)
        elif segments is not None:
            problems.append(f"{source.labels.name} is not a {width}x{height} label map: "
                            "segments not shown")
    thumb.thumbnail((THUMB, THUMB))
    (out / "thumbs" / f"{source.name}.jpg").write_bytes(_jpeg(thumb, 80))
    script = f"wnetView.register({json.dumps(source.name)}, {json.dumps(data)});\n"
    (out / "data" / f"{source.name}.js").write_text(script)
    entry = {"name": source.name, "width": width, "height": height,
             "photo": "photo" in data, "segments": "segments" in data}
    return entry, problems


def write_view(folder, out=None, images=None, segments=None, evaluations=None, workers=1):
    """Writes the page for the postprocess outputs in `folder` (see the module docstring) into
    `out` (default `folder`): index.html and index_files/.

    `images`, `segments`: folders of photos and of `segment`'s NAME_labels.png (defaults: see
    `find_sources`). `evaluations`: `evaluate --out` folders (default: found in `folder`).
    A file that cannot be shown is named in the returned problems (and on the page), and the
    others are shown. Returns (path of index.html, problems). Raises ViewError when there is
    nothing to show.
    """
    from wnet_tf.workers import each

    folder = Path(folder)
    out = Path(out or folder)
    sources, problems = find_sources(folder, images, segments)
    assets = out / ASSETS
    shutil.rmtree(assets, ignore_errors=True)
    for sub in ("data", "thumbs"):
        (assets / sub).mkdir(parents=True)
    for name in (*SCRIPTS, "view.css"):
        shutil.copyfile(STATIC / name, assets / name)

    entries, failed = {}, []
    for source, result, err in each(write_image, sources, workers, lambda s: (s, assets)):
        if err is not None:
            failed.append(str(err) if isinstance(err, ValueError) else f"{source.ucm.name}: {err}")
            continue
        entries[source.name], image_problems = result
        problems += image_problems
    problems += failed
    if not entries:
        raise ViewError(f"no hierarchy in {folder} could be read: " + "; ".join(failed))

    evals = []
    for path in evaluations or find_evaluations(folder):
        for found in find_evaluations(path) or [Path(path)]:
            try:
                evals.append(read_evaluation(found))
            except ValueError as err:
                problems.append(str(err))
    # The sliders start at the thresholds of the evaluation of this folder's hierarchies.
    method = next((k for k, e in enumerate(evals) if e["name"] == folder.name), 0)
    index = {"title": folder.resolve().name, "images": [entries[s.name] for s in sources
                                                         if s.name in entries],
             "problems": problems, "evaluations": evals, "method": method,
             "threshold": _postprocess_threshold(folder)}
    (assets / "index.js").write_text(f"wnetView.start({json.dumps(index)});\n")
    page = (STATIC / "index.html").read_text().replace("{title}", _escape(index["title"]))
    (out / "index.html").write_text(page)
    return out / "index.html", problems


def _postprocess_threshold(folder):
    """The threshold of postprocess's NAME_cut.png (its config.json), where the sliders start
    without an evaluation; None if unknown."""
    try:
        return float(json.loads((folder / "config.json").read_text())["postprocess"]["threshold"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
