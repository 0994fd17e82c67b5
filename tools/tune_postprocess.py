"""Choose post-processing parameters on a BSDS split (val, never test): every combination of the
values given is scored (SC, PRI, VI at ODS / OIS, 99 thresholds) with the image cues computed once
per image and the CRF once per CRF setting.

    python tools/tune_postprocess.py --model bsds500 --bsds BSDS500_ROOT --split val \
        --grid postprocess.off_boundary_strength=0,0.25,0.5 \
        --grid postprocess.crf_bilateral_weight=5,10 [--jobs 2] [--json out.json]

Starts from the model's own config (or --config); prints one row per combination, after a row
for the same post-processing without the network (the image cues' hierarchy: the ablation), one
per setting of the image cues when those vary (`cue_weights`, and the spectral term's
`spectral_*`; `--grid 'postprocess.cue_weights=[1,1,1,1],[2,1,1,1]'`: each cue's gradients are
computed once and mixed per weighting, the spectral term once per weighting and rho). Each row
gives its SC ODS minus that of the ablation with the same image cues.
"""

import itertools
import json
import re
from pathlib import Path

import click

from wnet_tf.options import scales_option

CRF_KEYS = ("crf_iterations", "crf_gaussian_sxy", "crf_gaussian_weight", "crf_bilateral_sxy",
            "crf_bilateral_srgb", "crf_bilateral_weight")


# What the image cues are computed from (once per image): the same in every setting.
CUE_KEYS = ("orientations", "cue_radius", "brightness_levels", "colour_levels", "texture_levels",
            "histogram_bins", "textons", "seed")


def score_settings(image_path, probabilities, gt_path, settings, nthresh):
    """One image under every PostprocessConfig of `settings`, and first without the network
    (`ucm_from_image`: the ablation) under each of their image cues (in `ablations`' order): a
    list of ImageScores."""
    from wnet_tf import bsds
    from wnet_tf.images import read_image
    from wnet_tf.postprocess.crf import dense_crf
    from wnet_tf.postprocess.cues import (
        boundary_strength,
        cue_gradients,
        mix_gradients,
        spectral_gradients,
        spectral_strength,
        weighted_cues,
        with_spectral,
        wnet_gradients,
    )
    from wnet_tf.postprocess.hierarchy import grid_edges, ucm_from_edges, ucm_from_strength

    image = read_image(image_path)
    ground_truth = bsds.load_ground_truth(gt_path)
    thresholds = bsds.ucm_thresholds(nthresh)
    name = Path(image_path).stem

    def score(ucm2):
        return bsds.score_image(ground_truth, bsds.cut_hierarchy(ucm2, thresholds), name)

    # The image cues' parameters other than their weights and the spectral term's are not tuned
    # here: each cue's gradients are computed once and mixed per `cue_weights`, the spectral
    # term once per (weights, rho, vectors) and mixed per `spectral_weight`; the CRF once per
    # CRF setting, the W-Net cue once per (CRF, source), and mixed per setting; the source's class
    # probabilities also serve the merging (`wnet_region_weight`).
    per_cue = cue_gradients(image, settings[0])
    local, spectral, image_parts, scores = {}, {}, {}, []
    for config in ablations(settings):
        w = config.cue_weights
        if w not in local:
            local[w] = weighted_cues(per_cue, w)
        sp = (w, config.spectral_rho, config.spectral_vectors, config.spectral_thin)
        if config.spectral_weight > 0 and sp not in spectral:
            spectral[sp] = spectral_gradients(spectral_strength(local[w], config), config)
        image_part = image_parts[image_key(config)] = with_spectral(local[w], config,
                                                                    spectral.get(sp))
        graph, weights, orientations = grid_edges(*boundary_strength(image_part))
        scores.append(score(ucm_from_edges(graph, image.shape[:2], weights,
                                           orientations if config.oriented_watershed else None)))
    marginals, wnet, informed = {}, {}, {}
    for config in settings:
        image_part = image_parts[image_key(config)]
        crf = tuple(getattr(config, k) for k in CRF_KEYS)
        if crf not in marginals:
            marginals[crf] = dense_crf(image, probabilities, config)
        source = (crf, config.wnet_cue_source)
        classes = marginals[crf] if config.wnet_cue_source == "crf" else probabilities
        if config.wnet_cue_weight > 0 and source not in wnet:
            wnet[source] = wnet_gradients(classes, config)
        if config.spectral_weight > 0 and config.wnet_affinity_weight > 0:
            # The network in the spectral term's affinities: the image part is this setting's.
            key = (image_key(config), source, config.wnet_affinity_weight)
            if key not in informed:
                informed[key] = with_spectral(local[config.cue_weights], config,
                                              probabilities=classes)
            image_part = informed[key]
        oriented = mix_gradients(image_part, wnet.get(source), config)
        ucm2 = ucm_from_strength(boundary_strength(oriented), marginals[crf].argmax(-1), config,
                                 probabilities=classes)
        scores.append(score(ucm2))
    return scores


IMAGE_KEYS = ("cue_weights", "spectral_weight", "spectral_rho", "spectral_vectors",
              "spectral_thin")


def image_key(setting):
    """What the image cues of a setting depend on beyond CUE_KEYS: one ablation per value. The
    spectral term's other keys do not matter while its weight is 0 (nor `wnet_affinity_weight`,
    which only the network's rows read)."""
    key = tuple(getattr(setting, k) for k in IMAGE_KEYS)
    return key if setting.spectral_weight > 0 else key[:2] + (None,) * (len(key) - 2)


def ablations(settings):
    """The first setting of each `image_key` among `settings`: one ablation row each."""
    first = {}
    for setting in settings:
        first.setdefault(image_key(setting), setting)
    return list(first.values())


def _value(v):
    return list(v) if isinstance(v, tuple) else v


def _grid(items):
    axes = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.startswith("postprocess."):
            raise click.BadParameter(f"{item!r}: expected postprocess.KEY=V1,V2,...",
                                     param_hint="--grid")
        # Commas inside brackets belong to a list value: cue_weights=[1,1,1,1],[2,1,1,1]
        axes.append([f"{key}={v}" for v in re.split(r",(?![^\[]*\])", values)])
    return list(itertools.product(*axes)) or [()]


@click.command()
@click.option("--model", "model_spec", default="bsds500", show_default=True)
@click.option("--bsds", "root", required=True, type=click.Path(exists=True, file_okay=False,
                                                               path_type=Path),
              help="The bsds500 folder (images/, groundTruth/).")
@click.option("--split", default="val", show_default=True)
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--grid", "grid", multiple=True, metavar="postprocess.KEY=V1,V2,...")
@click.option("--resize", "scale", default="train", show_default=True)
@scales_option
@click.option("--nthresh", default=99, show_default=True)
@click.option("--jobs", default=2, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False))
def main(model_spec, root, split, config_path, grid, scale, nthresh, jobs, json_path, scales):
    from wnet_tf import bsds
    from wnet_tf.config import Config, load_config
    from wnet_tf.images import find_images, read_image
    from wnet_tf.inference import predict
    from wnet_tf.options import open_or_fail, parse_scale, with_scales
    from wnet_tf.workers import each

    model = open_or_fail(model_spec)
    geometry = with_scales(parse_scale(scale), model, scales)
    combos = _grid(grid)
    if config_path:
        settings = [load_config(config_path, c).postprocess for c in combos]
    else:
        settings = [(model.config or Config()).with_overrides(c).postprocess for c in combos]
    for key in CUE_KEYS:
        if len({getattr(s, key) for s in settings}) > 1:
            raise click.BadParameter(f"postprocess.{key}: the image cues are computed once per "
                                     "image; only their cue_weights and the spectral term's "
                                     "settings can vary", param_hint="--grid")
    no_nets = ablations(settings)
    images = find_images(root / "images" / split)
    gt_dir = root / "groundTruth" / split
    def prepare(path):
        probs = predict(model, read_image(path), geometry)
        return path, probs, gt_dir / f"{path.stem}.mat", settings, nthresh

    results = {}
    for path, scores, err in each(score_settings, images, jobs, prepare, spawn=True):
        if err is not None:
            raise click.ClickException(f"{path}: {err}")
        results[path.stem] = scores
    names = sorted(results)
    rows = []
    click.echo("| setting | SC ODS | SC OIS | PRI ODS | PRI OIS | VI ODS | VI OIS "
               "| SC ODS vs no net |")
    click.echo("| --- | --- | --- | --- | --- | --- | --- | --- |")
    no_net = {}  # image_key -> SC ODS of the image cues alone
    varying = [i for i in range(len(IMAGE_KEYS))
               if len({image_key(a)[i] for a in no_nets} - {None}) > 1]
    labels = [("without the network", *(f"{IMAGE_KEYS[i]}={_value(image_key(a)[i])}"
                                        for i in varying if image_key(a)[i] is not None))
              for a in no_nets]
    named = [*zip(labels, no_nets, strict=True), *zip(combos, settings, strict=True)]
    for i, (combo, setting) in enumerate(named):
        summary = bsds.summarize([results[n][i] for n in names],
                                 bsds.ucm_thresholds(nthresh)).summary
        figures = [summary[m][k] for m in ("SC", "PRI", "VI") for k in ("ODS", "OIS")]
        gain = figures[0] - no_net.setdefault(image_key(setting), figures[0])
        row = {"setting": list(combo), "summary": summary}
        if i >= len(no_nets):
            row["sc_ods_vs_no_net"] = gain
        rows.append(row)
        click.echo(f"| {' '.join(combo) or 'as configured'} | "
                   + " | ".join(f"{x:.3f}" for x in figures)
                   + (f" | {gain:+.3f} |" if i >= len(no_nets) else " | |"))
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
