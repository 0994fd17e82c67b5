"""`wnet-tf evaluate` (also `python tools/bsds_eval.py`): scores segmentations on BSDS as the BSR
region and boundary benchmarks do. A thin shell over `wnet_tf.bsds`, which holds all of the work."""

import sys
from pathlib import Path

import click

from wnet_tf import bsds

_FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


def _names(folders):
    """A label per input folder: its name, made unique by its position where names repeat."""
    names = [f.name for f in folders]
    return [n if names.count(n) == 1 else f"{n}-{k + 1}" for k, n in enumerate(names)]


@click.command()
@click.option("--gt", "gt_dir", type=_FOLDER, required=True, help="Ground-truth .mat files.")
@click.option(
    "--ucm",
    "ucm_dirs",
    type=_FOLDER,
    multiple=True,
    help="Hierarchies: <id>.mat holding 'ucm2'. Repeat to compare methods: each is scored and "
    "written to --out/<folder name>/, their precision-recall curves drawn together.",
)
@click.option(
    "--segs",
    "segs_dir",
    type=_FOLDER,
    help="Segmentations: <id>.mat holding 'segs', <id>.npy (HxW or TxHxW), <id>.png, or "
    "<id>_<k>.png / .npy for the k-th of several.",
)
@click.option(
    "--pb",
    "pb_dir",
    type=_FOLDER,
    help="Soft boundary maps, <id>.png (8-bit, 255 the strongest): boundary benchmark only.",
)
@click.option(
    "--boundaries",
    is_flag=True,
    help="Also run the boundary benchmark (precision / recall of contours, F at ODS / OIS, AP); "
    "it needs the 'bdry' extra and takes far longer than the region benchmark.",
)
@click.option(
    "--nthresh",
    type=click.IntRange(min=1),
    help="Thresholds to cut each hierarchy at [default: 99]. With --segs, each segmentation is "
    "one threshold.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write summary.json and the tables here (with --boundaries also the benchmark's "
    "eval_bdry*.txt and pr_curve.png).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=bsds.default_jobs,
    show_default="all cores",
    help="Images scored in parallel.",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Score the images that have both ground truth and input instead of stopping.",
)
def command(gt_dir, ucm_dirs, segs_dir, pb_dir, boundaries, nthresh, out_dir, jobs, allow_missing):
    """Score segmentations on BSDS: SC, PRI and VI at ODS and OIS, to the digit of the official
    MATLAB region benchmark, and with --boundaries its boundary benchmark."""
    inputs = [("ucm", d) for d in ucm_dirs]
    inputs += [(kind, d) for kind, d in (("segs", segs_dir), ("pb", pb_dir)) if d is not None]
    if not inputs or (len(inputs) > 1 and len(inputs) != len(ucm_dirs)):
        raise click.UsageError("give one --segs, one --pb, or one or more --ucm")
    names = _names([d for _, d in inputs])
    curves = []
    for (kind, input_dir), name in zip(inputs, names, strict=True):
        target = out_dir / name if out_dir is not None and len(inputs) > 1 else out_dir
        if len(inputs) > 1:
            click.echo(f"== {input_dir}")
        result = _evaluate(
            gt_dir, kind, input_dir, boundaries, nthresh, target, jobs, allow_missing
        )
        if result.boundary is not None:
            curves.append((name, result.boundary))
    if out_dir is not None and len(curves) > 1:
        bsds.write_pr_curve(out_dir / "pr_curve.png", curves)
        click.echo(f"precision-recall curves in {out_dir / 'pr_curve.png'}")


def _evaluate(gt_dir, kind, input_dir, boundaries, nthresh, out_dir, jobs, allow_missing):
    try:
        result = bsds.evaluate_dataset(
            gt_dir,
            input_dir,
            kind,
            nthresh=nthresh or 99,
            jobs=jobs,
            allow_missing=allow_missing,
            progress=sys.stderr.isatty(),
            boundaries=boundaries,
        )
        if out_dir is not None:
            bsds.write_results(out_dir, result.benchmark, result.boundary)
    except bsds.BSDSError as err:  # a file it cannot score: bad data, exit 1 as for segment
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"cannot write the results to {out_dir}: {err}") from None

    found = len((result.boundary or result.benchmark).thresholds)
    if kind == "segs" and nthresh is not None and nthresh != found:
        click.echo(
            f"warning: --nthresh {nthresh} ignored: {found} segmentations per image", err=True
        )
    if result.without_ground_truth:
        click.echo(f"skipped, no ground truth: {', '.join(result.without_ground_truth)}")
    if result.without_input:
        click.echo(f"skipped, no {kind} input: {', '.join(result.without_input)}")
    click.echo(bsds.format_table(result.benchmark, result.boundary))
    if out_dir is not None:
        click.echo(f"results in {out_dir}")
    return result


if __name__ == "__main__":
    command()
