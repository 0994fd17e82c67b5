"""The benchmark's inputs: reading ground-truth, hierarchy and segmentation files, pairing them by
image id, and scoring a whole folder image by image (in a process pool) before aggregating.

Every error names the file it comes from; the arithmetic lives in `partitions` and `region`.
"""

import re
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from scipy import io as sio

from wnet_tf.bsds import boundary
from wnet_tf.bsds.partitions import (
    BSDSError,
    as_label_map,
    check_hierarchy,
    cut_hierarchy,
    stack_segmentations,
    ucm_thresholds,
)
from wnet_tf.bsds.region import Benchmark, score_image, summarize
from wnet_tf.workers import usable_cores

# Inputs: ucm2 hierarchies, lists of segmentations, soft boundary maps (boundary benchmark only).
KINDS = ("ucm", "segs", "pb")

# Segmentation files read by `load_segmentations`.
SEGMENTATION_SUFFIXES = (".mat", ".npy", ".png")


# --------------------------------------------------------------------------- reading


def _load_variable(path, name):
    try:
        data = sio.loadmat(path, variable_names=[name])
    # scipy reports a damaged file as ValueError, OSError, MatReadError or NotImplementedError
    # (MATLAB v7.3); all mean the same thing here.
    except Exception as err:
        raise BSDSError(f"{path}: unreadable .mat file ({err})") from None
    if name not in data:
        raise BSDSError(f"{path}: no variable '{name}'")
    return data[name]


def _cells(value, path, name):
    """The elements of a MATLAB cell array, in order."""
    if value.dtype != object or value.size == 0:
        raise BSDSError(f"{path}: '{name}' is not a non-empty cell array")
    return list(value.ravel(order="F"))


def load_ground_truth(path, field="Segmentation"):
    """The `groundTruth` cell of a BSDS .mat file: one (H, W) int64 map per annotator, its label
    map (`field` "Segmentation") or its boundary map ("Boundaries")."""
    maps = []
    for k, annotator in enumerate(_cells(_load_variable(path, "groundTruth"), path, "groundTruth")):
        try:
            value = annotator[field].item()
        except (IndexError, KeyError, TypeError, ValueError):
            raise BSDSError(f"{path}: annotator {k + 1} has no '{field}'") from None
        maps.append(as_label_map(value, f"{path}: annotator {k + 1} '{field}'"))
    if len({m.shape for m in maps}) > 1:
        raise BSDSError(f"{path}: annotators disagree on the image size")
    return maps


def load_hierarchy(path):
    """The `ucm2` variable of a .mat file, as float64."""
    ucm2 = np.asarray(_load_variable(path, "ucm2"))
    if ucm2.ndim != 2 or ucm2.dtype.kind not in "biuf":
        raise BSDSError(f"{path}: 'ucm2' is not a 2-D numeric array")
    return ucm2.astype(np.float64)


def load_boundary_map(path):
    """A soft boundary map image (8-bit: 0..255, as the benchmark divides by 255), as float64."""
    from skimage import io as skio

    try:
        array = skio.imread(path)
    except (OSError, ValueError) as err:
        raise BSDSError(f"{path}: unreadable image ({err})") from None
    if array.ndim != 2 or array.dtype != np.uint8:
        raise BSDSError(
            f"{path}: a boundary map must be a single-channel 8-bit image, not {array.dtype} "
            f"of shape {array.shape}"
        )
    return array / 255


def load_segmentations(paths):
    """Label maps from one `segs` .mat, an (H, W) or (T, H, W) .npy, or one PNG per file."""
    maps = []
    for path in map(Path, paths):
        if path.suffix == ".mat":
            cells = _cells(_load_variable(path, "segs"), path, "segs")
            maps += [as_label_map(s, f"{path}: segmentation {k + 1}") for k, s in enumerate(cells)]
        elif path.suffix == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise BSDSError(f"{path}: unreadable .npy file ({err})") from None
            stack = array[None] if array.ndim == 2 else array
            maps += [as_label_map(s, f"{path}: segmentation {k + 1}") for k, s in enumerate(stack)]
        elif path.suffix == ".png":
            from skimage import io as skio

            try:
                array = skio.imread(path)
            except (OSError, ValueError) as err:
                raise BSDSError(f"{path}: unreadable PNG ({err})") from None
            maps.append(as_label_map(array, f"{path} (a single-channel label PNG)"))
        else:
            raise BSDSError(f"{path}: not one of {', '.join(SEGMENTATION_SUFFIXES)}")
    return maps


# --------------------------------------------------------------------------- matching and scoring


@dataclass(frozen=True)
class ImageInput:
    """One image to score: its ground truth and either one ucm2 .mat or its segmentation files."""

    name: str
    ground_truth: Path
    kind: str  # "ucm", "segs" or "pb" (soft boundary maps)
    files: tuple


# Written by `wnet-tf segment` beside its `<id>_labels.png`, and not label maps.
_SEGMENT_BYPRODUCTS = ("_overlay", "_probabilities")


def _segmentation_owner(stem, names):
    """(image id, k) of a segmentation file: `<id>` or `<id>_labels` holds the image's whole list
    (k is None), `<id>_<k>` its k-th segmentation. An unknown id comes back as the stem itself."""
    if stem in names:
        return stem, None
    if stem.endswith("_labels") and stem.removesuffix("_labels") in names:
        return stem.removesuffix("_labels"), None
    match = re.fullmatch(r"(.+)_(\d+)", stem)
    if match and match[1] in names:
        return match[1], int(match[2])
    return stem, None


def _segmentation_files(directory, names):
    """The segmentation files of every image in `directory`, keyed by image id."""
    found = {}
    for path in sorted(Path(directory).iterdir()):
        if path.suffix not in SEGMENTATION_SUFFIXES or not path.is_file():
            continue
        stem = path.stem
        if any(stem.endswith(b) and stem.removesuffix(b) in names for b in _SEGMENT_BYPRODUCTS):
            continue
        name, k = _segmentation_owner(stem, names)
        found.setdefault(name, []).append((k, path))
    groups = {}
    for name, files in found.items():
        numbers = [k for k, _ in files]
        if len(files) > 1 and (None in numbers or len(set(numbers)) < len(numbers)):
            raise BSDSError(
                f"{directory}: image {name} has several segmentation lists "
                f"({', '.join(p.name for _, p in files)}): keep one file, or number them <id>_<k>"
            )
        groups[name] = tuple(path for _, path in sorted(files, key=lambda f: f[0] or 0))
    return groups


def match_inputs(gt_dir, input_dir, kind):
    """Pairs ground-truth files with inputs by image id.

    Returns:
        (items sorted by name, ids with input but no ground truth, ids with ground truth only).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    gt_files = {p.stem: p for p in sorted(Path(gt_dir).glob("*.mat"))}
    if kind == "ucm":
        inputs = {p.stem: (p,) for p in sorted(Path(input_dir).glob("*.mat"))}
    elif kind == "pb":
        inputs = {p.stem: (p,) for p in sorted(Path(input_dir).glob("*.png"))}
    else:
        inputs = _segmentation_files(input_dir, gt_files.keys())
    items = [ImageInput(n, gt_files[n], kind, inputs[n]) for n in sorted(gt_files.keys() & inputs)]
    return items, sorted(inputs.keys() - gt_files.keys()), sorted(gt_files.keys() - inputs.keys())


@dataclass(frozen=True)
class ImageResult:
    """One image's figures: region (`ImageScores`) and boundary (`BoundaryScores`), or None for
    a benchmark not asked for."""

    region: object
    boundary: object


def evaluate_image(item, nthresh=99, region=True, boundaries=False):
    """Loads, checks and scores one image; BSDSError names the offending file."""
    ground_truth = load_ground_truth(item.ground_truth)
    shape = ground_truth[0].shape
    region_scores = boundary_scores = None
    region = region and item.kind != "pb"
    files = ", ".join(map(str, item.files))
    if item.kind in ("ucm", "pb"):
        (path,) = item.files
        thresholds = ucm_thresholds(nthresh)
        if item.kind == "ucm":
            ucm2 = load_hierarchy(path)
            try:
                check_hierarchy(ucm2, shape, thresholds[0])
            except BSDSError as err:
                raise BSDSError(f"{path}: {err}") from None
            if region:
                region_scores = score_image(
                    ground_truth, cut_hierarchy(ucm2, thresholds), item.name
                )
            soft = boundary.hierarchy_boundaries(ucm2)
        else:
            soft = load_boundary_map(path)
            if soft.shape != shape:
                raise BSDSError(
                    f"{path}: boundary map is {soft.shape[0]}x{soft.shape[1]}, its ground truth "
                    f"{item.ground_truth} is {shape[0]}x{shape[1]}"
                )
        machine_maps = (soft >= t for t in thresholds) if boundaries else None
    else:
        segmentations = load_segmentations(item.files)
        if not segmentations:
            raise BSDSError(f"{files}: no segmentation")
        for k, seg in enumerate(segmentations):
            if seg.shape != shape:
                raise BSDSError(
                    f"{files}: segmentation {k + 1} is {seg.shape[0]}x{seg.shape[1]}, its ground "
                    f"truth {item.ground_truth} is {shape[0]}x{shape[1]}"
                )
        if region:
            region_scores = score_image(ground_truth, stack_segmentations(segmentations), item.name)
        machine_maps = map(boundary.segmentation_boundaries, segmentations)
    if boundaries:
        human = load_ground_truth(item.ground_truth, "Boundaries")
        thinned = boundary.thin_all(machine_maps)
        boundary_scores = boundary.score_boundaries(thinned, human, item.name)
    return ImageResult(region_scores, boundary_scores)


@dataclass(frozen=True)
class Evaluation:
    """A scored dataset and the images left out for want of a partner file.

    Attributes:
        benchmark: the region figures (`Benchmark`), None for boundary maps.
        without_ground_truth, without_input: image ids.
        boundary: the boundary figures (`BoundaryBenchmark`) when asked for, else None.
    """

    benchmark: Benchmark
    without_ground_truth: list
    without_input: list
    boundary: object = None


def _listing(names, limit=5):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def default_jobs():
    return usable_cores()


def evaluate_dataset(
    gt_dir,
    input_dir,
    kind,
    nthresh=99,
    jobs=1,
    allow_missing=False,
    progress=False,
    boundaries=False,
):
    """Scores every image of `input_dir` (kind "ucm": ucm2 .mat files; "segs": segmentation lists;
    "pb": soft boundary map PNGs) against `gt_dir`, in `jobs` processes, and aggregates as the
    benchmark does: the region benchmark (not for "pb"), and the boundary benchmark if
    `boundaries` (always for "pb").

    Every image must have both files unless `allow_missing`, which scores those that do.
    """
    boundaries = boundaries or kind == "pb"
    items, without_gt, without_input = match_inputs(gt_dir, input_dir, kind)
    if (without_gt or without_input) and not allow_missing:
        problems = []
        if without_gt:
            problems.append(
                f"{len(without_gt)} in {input_dir} without ground truth in {gt_dir}: "
                f"{_listing(without_gt)}"
            )
        if without_input:
            problems.append(
                f"{len(without_input)} in {gt_dir} without input in {input_dir}: "
                f"{_listing(without_input)}"
            )
        raise BSDSError(
            f"unmatched images: {'; '.join(problems)}; allow_missing (--allow-missing) scores "
            f"the {len(items)} that have both"
        )
    if not items:
        raise BSDSError(f"no image has both ground truth in {gt_dir} and input in {input_dir}")
    work = partial(evaluate_image, nthresh=nthresh, boundaries=boundaries)
    # An image takes the boundary benchmark tens of seconds: one at a time, or a worker may sit
    # idle at the end while the other finishes a pair.
    results = _run(work, items, jobs, progress, chunksize=1 if boundaries else 2)
    if kind in ("ucm", "pb"):
        thresholds = ucm_thresholds(nthresh)
    else:
        by_count = {}
        for item, result in zip(items, results, strict=True):
            count = len((result.region or result.boundary).cnt_r)
            by_count.setdefault(count, []).append(item.name)
        if len(by_count) > 1:
            raise BSDSError(
                "every image needs the same number of segmentations, but "
                + "; ".join(f"{len(n)} have {c} ({_listing(n)})" for c, n in by_count.items())
            )
        thresholds = np.arange(1, next(iter(by_count)) + 1)
    region = None if kind == "pb" else summarize([r.region for r in results], thresholds)
    bdry = None
    if boundaries:
        bdry = boundary.summarize_boundaries([r.boundary for r in results], thresholds)
    return Evaluation(region, without_gt, without_input, bdry)


def _run(work, items, jobs, progress, chunksize=2):
    """`work` over `items`, results in order, in `jobs` processes (`chunksize` images handed to a
    worker at a time), with an optional progress bar."""
    from tqdm import tqdm

    parallel = jobs > 1 and len(items) > 1
    with ProcessPoolExecutor(min(jobs, len(items))) if parallel else nullcontext() as pool:
        # Small chunks keep the bar moving and every worker busy to the end.
        results = pool.map(work, items, chunksize=chunksize) if parallel else map(work, items)
        return list(tqdm(results, total=len(items), unit="image", disable=not progress))
