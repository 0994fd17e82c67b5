"""A trained run as a float32 TensorFlow SavedModel for serving (`wnet-tf export`).

Endpoints, each for a batch of RGB images of any size, (None, None, None, 3):
    segment(images float32 in [0, 1])  -> {"probabilities": (B, H, W, K) float32,
                                           "labels": (B, H, W) int32}
    segment_uint8(images uint8 0..255) -> the same
    reconstruct(images float32)        -> {"reconstructions": (B, H, W, 3) float32}
    reconstruct_uint8(images uint8)    -> the same
`serving_default` is `segment`; the float32 endpoints are wnet_tf.endpoints', which a shipped
model runs in-process too. assets.extra/config.json holds the run's config
(wnet_tf.pretrained.open_model reads it).
"""

import shutil
from pathlib import Path

import click

from wnet_tf.endpoints import images_spec, reconstruct_fn, segment_fn
from wnet_tf.files import replacing_folder
from wnet_tf.rundir import CONFIG_FILE, trained_networks


def save_serving_model(encoder, decoder, path):
    """Writes the SavedModel described in the module docstring for float32 networks."""
    import keras
    import tensorflow as tf

    mixed = [m.name for m in (encoder, decoder) if m.compute_dtype != "float32"]
    if mixed:
        raise ValueError(f"{mixed} compute in a mixed policy; rebuild in float32 (export_run)")

    def from_uint8(fn):
        return lambda images: fn(tf.cast(images, tf.float32) / 255.0)

    segment, reconstruct = segment_fn(encoder), reconstruct_fn(encoder, decoder)
    archive = keras.export.ExportArchive()
    archive.track(encoder)
    archive.track(decoder)
    archive.add_endpoint("segment", segment, [images_spec()])  # the first is serving_default
    archive.add_endpoint("segment_uint8", from_uint8(segment), [images_spec("uint8")])
    archive.add_endpoint("reconstruct", reconstruct, [images_spec()])
    archive.add_endpoint("reconstruct_uint8", from_uint8(reconstruct), [images_spec("uint8")])
    archive.write_out(str(path), verbose=False)


def export_run(run_dir, out, checkpoint=None):
    """Exports a run's latest checkpoint (or `checkpoint`) to the SavedModel directory `out`.

    The networks are rebuilt in float32 from the run's config.json and the checkpoint's weights
    restored into them (mixed-precision runs keep float32 weights). `out` is replaced only once
    the new SavedModel is complete. Returns `out` as a Path.
    """
    run_dir, out = Path(run_dir), Path(out)
    encoder, decoder = trained_networks(run_dir, checkpoint)
    if out.exists() and not (out / "saved_model.pb").exists():
        raise FileExistsError(f"{out} exists and is not a SavedModel: not replacing it")
    with replacing_folder(out) as staging:
        save_serving_model(encoder, decoder, staging)
        # The training config travels with the model (assets.extra is ignored by TF Serving).
        (staging / "assets.extra").mkdir(exist_ok=True)
        shutil.copyfile(run_dir / CONFIG_FILE, staging / "assets.extra" / CONFIG_FILE)
    return out


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="The SavedModel directory (default: saved_models/<RUN_DIR's name>).")
@click.option("--checkpoint", help="A checkpoint prefix such as RUN_DIR/checkpoints/ckpt-500 "
                                   "(default: the latest).")
def command(run_dir, out, checkpoint):
    """Export a training run as a float32 SavedModel (segment / reconstruct endpoints)."""
    out = out or Path("saved_models") / run_dir.resolve().name
    try:
        export_run(run_dir, out, checkpoint)
    except (FileNotFoundError, FileExistsError) as err:  # not a run, or a folder in the way
        raise click.UsageError(str(err)) from None
    click.echo(f"SavedModel: {out}")


if __name__ == "__main__":
    from wnet_tf.entry import configure_tensorflow

    configure_tensorflow()
    command(prog_name="python -m wnet_tf.export")
