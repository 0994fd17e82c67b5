"""`wnet-tf evaluate` (also `python tools/bsds_eval.py`): scores segmentations on BSDS as the BSR
region benchmark does. A thin shell over `wnet_tf.bsds`, which holds all of the work."""

import sys
from pathlib import Path

import click

from wnet_tf import bsds

_FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.option("--gt", "gt_dir", type=_FOLDER, required=True, help="Ground-truth .mat files.")
@click.option("--ucm", "ucm_dir", type=_FOLDER, help="Hierarchies: <id>.mat holding 'ucm2'.")
@click.option(
    "--segs",
    "segs_dir",
    type=_FOLDER,
    help="Segmentations: <id>.mat holding 'segs', <id>.npy (HxW or TxHxW), <id>.png, or "
    "<id>_<k>.png / .npy for the k-th of several.",
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
    help="Write summary.json, per_image.csv and per_threshold.csv here.",
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
def command(gt_dir, ucm_dir, segs_dir, nthresh, out_dir, jobs, allow_missing):
    """Score segmentations on BSDS: SC, PRI and VI at ODS and OIS, to the digit of the official
    MATLAB region benchmark."""
    if (ucm_dir is None) == (segs_dir is None):
        raise click.UsageError("give exactly one of --ucm and --segs")
    kind, input_dir = ("ucm", ucm_dir) if ucm_dir else ("segs", segs_dir)
    try:
        result = bsds.evaluate_dataset(
            gt_dir,
            input_dir,
            kind,
            nthresh=nthresh or 99,
            jobs=jobs,
            allow_missing=allow_missing,
            progress=sys.stderr.isatty(),
        )
        if out_dir is not None:
            bsds.write_results(out_dir, result.benchmark)
    except bsds.BSDSError as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"cannot write the results to {out_dir}: {err}") from None

    found = result.benchmark.summary["nthresh"]
    if kind == "segs" and nthresh is not None and nthresh != found:
        click.echo(
            f"warning: --nthresh {nthresh} ignored: {found} segmentations per image", err=True
        )
    if result.without_ground_truth:
        click.echo(f"skipped, no ground truth: {', '.join(result.without_ground_truth)}")
    if result.without_input:
        click.echo(f"skipped, no {kind} input: {', '.join(result.without_input)}")
    click.echo(bsds.format_table(result.benchmark))
    if out_dir is not None:
        click.echo(f"results in {out_dir}")


if __name__ == "__main__":
    command()
