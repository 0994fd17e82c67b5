"""Typed, strict experiment configuration.

One frozen dataclass per section; `load_config(path, overrides)` reads JSON, rejects unknown keys,
wrong types and impossible values with an error that names the key and the value, and applies
`"section.key=value"` overrides (the value is parsed as JSON when it parses, else taken as a
string). `save_config` writes it back so that loading the file again gives an equal config.

Components receive their own section (`build_wnet(cfg.model)`), never the whole config.
Every default that settles an [open] point of the paper says so; `configs/README.md` explains why.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wnet_tf.files import atomic_write_text


class ConfigError(ValueError):
    """A config key or value that is wrong; the message names the key and the value."""


def _check(ok: bool, key: str, value, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r}: expected {expected}")


@dataclass(frozen=True)
class ModelConfig:
    """The two U-Nets. The defaults are the paper's network."""

    k: int = 20  # [open] K is not stated; 20 (see configs/README.md)
    base_filters: int = 64  # 64 -> 1024 channels with depth 4
    depth: int = 4  # down-steps per U-Net; the model pads H and W to a multiple of 2**depth
    # [open] "dropout of 0.65": read as TF1's keep probability, so the drop rate is 0.35,
    # applied after every module.
    dropout_rate: float = 0.35
    separable: bool = True  # depthwise separable convolutions in all but the outer modules
    # How each 3x3 convolution sees beyond the border. "zeros" (the paper's, Keras' "same"): zero
    # padding tells the network where the border is, and with it where every pixel is, which lets
    # the encoder settle into one partition by position for every image. "symmetric": mirrored
    # borders, which the transposed convolutions' lattice still gives away. "circular": every
    # map wraps around, so no pixel is nearer a border than another and the classes must come
    # from content (wnet_tf.model.BorderPad). Same variables for all three (configs/README.md).
    padding: Literal["zeros", "symmetric", "circular"] = "zeros"

    def validate(self) -> None:
        _check(self.k >= 2, "model.k", self.k, "an integer >= 2 (number of classes)")
        _check(self.base_filters >= 1, "model.base_filters", self.base_filters, "an integer >= 1")
        _check(1 <= self.depth <= 6, "model.depth", self.depth, "an integer from 1 to 6")
        _check(0.0 <= self.dropout_rate < 1.0, "model.dropout_rate", self.dropout_rate,
               "a drop rate in [0, 1)")


@dataclass(frozen=True)
class LossConfig:
    """Soft N-cut weights, equation (6) of the paper."""

    radius: int = 5  # neighbours when the Euclidean distance is strictly below radius
    sigma_i: float = 10.0
    sigma_x: float = 4.0
    # [open] the scale and kind of F: RGB values in 0..255 (sigma_I = 10 only makes sense there).
    intensity_scale: float = 255.0
    features: Literal["rgb", "grey"] = "rgb"
    jit: bool = True  # compile the N-cut with XLA (fast on CPU and GPU for this loss)

    def validate(self) -> None:
        _check(self.radius >= 1, "loss.radius", self.radius, "an integer >= 1")
        _check(self.sigma_i > 0, "loss.sigma_i", self.sigma_i, "a positive number")
        _check(self.sigma_x > 0, "loss.sigma_x", self.sigma_x, "a positive number")
        _check(self.intensity_scale > 0, "loss.intensity_scale", self.intensity_scale,
               "a positive number")


@dataclass(frozen=True)
class OptimConfig:
    """Two optimizers (one per phase of Algorithm 1), each with its own state."""

    # [open] the paper says "minibatch SGD"; Adam is what works at lr 0.003 with a summed
    # reconstruction error, and what reimplementations use.
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = 0.9  # sgd only
    # Piecewise-constant learning rate, both optimizers driven by the training step: lr_values[i]
    # applies to the steps before lr_boundaries[i] (the first lr_boundaries[0] steps run at
    # lr_values[0]; wnet_tf.training.trainer.learning_rate).
    # [open] the literal "divide by 10 every 1,000 iterations" for 50,000 iterations reaches 3e-53;
    # the default divides by 10 every 10,000 iterations instead (configs/README.md).
    lr_boundaries: tuple[int, ...] = (10000, 20000, 30000, 40000)
    lr_values: tuple[float, ...] = (3e-3, 3e-4, 3e-5, 3e-6, 3e-7)
    clipnorm: float | None = None
    # The balance of the two phases: the N-cut phase's rate is the schedule's times this, the
    # reconstruction phase's the schedule's. 1 is the paper's one rate. (With Adam a weight on a
    # phase's loss would change nothing: its steps do not scale with the gradient.)
    ncut_lr_scale: float = 1.0

    def validate(self) -> None:
        b, v = self.lr_boundaries, self.lr_values
        _check(len(v) == len(b) + 1, "optim.lr_values", list(v),
               f"{len(b) + 1} values (one more than optim.lr_boundaries)")
        _check(all(x > 0 for x in b) and list(b) == sorted(set(b)), "optim.lr_boundaries",
               list(b), "strictly increasing positive iteration counts")
        _check(all(x > 0 for x in v), "optim.lr_values", list(v), "positive learning rates")
        _check(0.0 <= self.momentum < 1.0, "optim.momentum", self.momentum, "a number in [0, 1)")
        _check(self.clipnorm is None or self.clipnorm > 0, "optim.clipnorm", self.clipnorm,
               "null or a positive number")
        _check(self.ncut_lr_scale > 0, "optim.ncut_lr_scale", self.ncut_lr_scale,
               "a positive number")


@dataclass(frozen=True)
class DataConfig:
    """Where images come from and how they become (B, H, W, 3) float32 batches in [0, 1]."""

    # source tfrecord: a shard glob or a make-records *.manifest.json; folder: a folder of images;
    # skimage: unused (the sample images inside scikit-image, for a demo that downloads nothing).
    train: str = ""
    val: str = ""
    source: Literal["tfrecord", "folder", "skimage"] = "tfrecord"
    image_size: int = 224
    # "resize": the paper's (whole image to image_size x image_size); the crops resize the short
    # side to image_size first.
    preprocess: Literal["resize", "random_crop", "center_crop"] = "resize"
    random_flip: bool = False
    # Scale jitter for "random_crop" in training: the shorter side is resized to image_size times
    # a factor drawn uniformly from [1, scale_jitter] before the crop, so that the network sees
    # content at several scales (1: the paper's single scale).
    scale_jitter: float = 1.0
    # Training only, after the flip: a rotation by a multiple of 90 degrees drawn uniformly (the
    # crops are square), so that no class can stand for "top of the picture".
    random_rot90: bool = False
    # Training only, last: each RGB channel multiplied by its own factor drawn uniformly from
    # [1 - colour_jitter, 1 + colour_jitter], then clipped to [0, 1] (0: none). A colour cast and
    # a brightness change per image, so that a class cannot stand for a fixed colour; the N-cut
    # and the reconstruction both see the jittered image.
    colour_jitter: float = 0.0
    # Inference only: the factors of image_size at which a model sees an image (the shorter side
    # at image_size times each, for the crops), its class probabilities averaged over them at the
    # largest. A class that the network gives a region at one scale only is outvoted; (1,) is
    # the training scale alone, the paper's.
    inference_scales: tuple[float, ...] = (1.0,)
    batch_size: int = 10  # the global batch
    shuffle_buffer: int = 1000
    seed: int | None = None  # same seed, same batches

    def validate(self) -> None:
        _check(self.image_size >= 1, "data.image_size", self.image_size, "an integer >= 1")
        _check(self.batch_size >= 1, "data.batch_size", self.batch_size, "an integer >= 1")
        _check(self.shuffle_buffer >= 1, "data.shuffle_buffer", self.shuffle_buffer,
               "an integer >= 1")
        _check(self.scale_jitter >= 1.0, "data.scale_jitter", self.scale_jitter,
               "a factor >= 1 (1: no jitter)")
        _check(0.0 <= self.colour_jitter < 1.0, "data.colour_jitter", self.colour_jitter,
               "a number in [0, 1) (0: no jitter)")
        _check(len(self.inference_scales) >= 1 and all(s > 0 for s in self.inference_scales),
               "data.inference_scales", self.inference_scales,
               "a non-empty list of positive factors of image_size")


@dataclass(frozen=True)
class TrainConfig:
    """The training run: length, precision, logging and checkpoints."""

    iterations: int = 50000
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    log_every: int = 10
    image_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    # Stop (with a checkpoint) once this many seconds have passed since the run started, 0 for
    # no limit: a wall-clock budget. Training again in the same run directory resumes.
    max_seconds: float = 0.0
    seed: int = 0
    strategy: Literal["default", "mirrored", "multi_worker", "tpu"] = "default"
    devices: tuple[str, ...] = ()  # for "mirrored": empty means every local GPU

    def validate(self) -> None:
        for key in ("iterations", "log_every", "image_every", "checkpoint_every",
                    "keep_checkpoints"):
            value = getattr(self, key)
            _check(value >= 1, f"train.{key}", value, "an integer >= 1")
        _check(self.max_seconds >= 0, "train.max_seconds", self.max_seconds,
               "a number of seconds >= 0 (0: no limit)")
        # Each worker would stop on its own clock, and the others wait for it forever.
        _check(not self.max_seconds or self.strategy != "multi_worker", "train.max_seconds",
               self.max_seconds, "0 with train.strategy='multi_worker'")
        _check(not self.devices or self.strategy == "mirrored", "train.devices",
               list(self.devices), f"[] with train.strategy={self.strategy!r} (devices are "
               "for 'mirrored')")


@dataclass(frozen=True)
class PostprocessConfig:
    """Algorithm 2: dense CRF, boundary strength on the CRF's boundaries, contour2ucm.

    The paper fixes none of the CRF's parameters [open]; the defaults are the reference values of
    Krahenbuhl and Koltun's example as pydensecrf ships it (colours in 0..255 units). The cue
    defaults follow gPb's local part (Arbelaez et al. 2011): 8 orientations, three scales per cue,
    brightness at smaller radii than colour and texture. Radii are `cue_radius * 2**level` pixels
    (level 0 is full resolution): 3, 6, 12 for brightness and 6, 12, 24 for colour and texture,
    close to gPb's 3, 5, 10 and 5, 10, 20.
    """

    # Dense CRF (Krahenbuhl and Koltun 2011): unary -log p, Potts pairwise terms.
    crf_iterations: int = 10  # mean-field steps
    crf_gaussian_sxy: float = 3.0  # smoothness kernel width, pixels
    crf_gaussian_weight: float = 3.0
    crf_bilateral_sxy: float = 80.0  # appearance kernel width, pixels
    crf_bilateral_srgb: float = 13.0  # appearance kernel width, 0..255 colour units
    crf_bilateral_weight: float = 10.0
    # Boundary strength: chi-square distances between the histograms of two half-discs.
    orientations: int = 8
    cue_radius: int = 3  # half-disc radius on every pyramid level
    brightness_levels: tuple[int, ...] = (0, 1, 2)
    colour_levels: tuple[int, ...] = (1, 2, 3)  # Lab a and b
    texture_levels: tuple[int, ...] = (1, 2, 3)
    histogram_bins: int = 12  # per brightness or colour channel, soft-assigned
    textons: int = 16  # k-means clusters of filter-bank responses, per image
    # brightness, colour a, colour b, texture; gPb learns these, here they are equal.
    cue_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    seed: int = 0  # texton k-means, and the eigensolver's start
    # gPb's spectral term (sPb, `cues.spectral_gradients`): its weight beside the four local
    # cues' `cue_weights`; 0 leaves it out (the paper's step 2 names no such term). Its
    # affinities are exp(-intervening contour / rho), from `spectral_vectors` eigenvectors.
    spectral_weight: float = 0.0
    spectral_rho: float = 0.1  # gPb's
    spectral_vectors: int = 16  # gPb's
    # Thin the strength to its ridges along each pixel's normal before the affinities, as gPb
    # does (its intervening contours run on non-maximum-suppressed mPb); false: the strength as is.
    spectral_thin: bool = False
    # The W-Net in the spectral term's affinities: W_ij = exp(-(intervening contour + w d_ij) /
    # rho), d_ij the squared Hellinger distance between the mean class distributions (read from
    # `wnet_cue_source`) of cells i and j, so that the eigenvectors also part what the network
    # parts. 0: the affinities are the image's alone, as in gPb.
    wnet_affinity_weight: float = 0.0
    # The share of its cue strength an edge keeps when it is not on a boundary of the CRF's
    # argmax. 0 is the paper's step 2 (boundary strength only on the CRF's boundaries): the finest
    # regions are then the CRF's. Above 0 every cue edge stays in the hierarchy, the W-Net's
    # boundaries ranked above the others; 1 ignores the network.
    off_boundary_strength: float = 0.0
    # Weight of the W-Net cue beside the four image cues' `cue_weights`: the half-disc
    # chi-square of the CRF's marginals (a soft class histogram per pixel) at the texture
    # scales. 0 is the paper's step 2, whose cues are the image's alone.
    wnet_cue_weight: float = 0.0
    # What the W-Net cue reads: "crf", the CRF's marginals (nearly one-hot), or "network", the
    # encoder's softmax before the CRF (soft where the network is unsure, as gPb's eigenvectors
    # are soft where the affinities are weak).
    wnet_cue_source: Literal["crf", "network"] = "crf"
    # The W-Net in the merging, at the region level: two regions' mean boundary strength is
    # scaled by (1 - w + w d), d the squared Hellinger distance between their mean class
    # distributions (read from `wnet_cue_source`), so that regions the network sees as one merge
    # earlier. 0 is contour2ucm's merging by mean boundary strength alone.
    wnet_region_weight: float = 0.0
    # contour2ucm's oriented watershed (higra's: each edge scaled by |cos| of the angle between
    # its strongest orientation and its arc's course). Off: on BSDS val it lowered every score
    # (SC, PRI, VI at ODS and OIS) of these cues, on every edge and on CRF boundaries alike.
    oriented_watershed: bool = False
    # "W-Net+ucm" [open]: how the W-Net boundaries meet a gPb-owt-ucm hierarchy before merging.
    # Fixed a priori, since gPb-owt-ucm hierarchies exist for the test set only and nothing may
    # be chosen there: the plain mean of the two boundary strengths, neither method preferred.
    # (An earlier 3/4 gPb had been chosen on an unrecorded half of the test set.)
    combine: Literal["mean", "max", "gate"] = "mean"
    gpb_weight: float = 0.5  # share of gPb in "mean"; off-W-Net gPb factor in "gate"
    threshold: float = 0.2  # where `wnet-tf postprocess` cuts for its PNG; near the SC ODS ones
    # The CRF and the hierarchy of a larger image run on it scaled down to this many pixels
    # (about 600 bytes each) and the outputs are scaled back up: a 36-Mpx photo then fits in
    # 6 GB. BSDS images (0.15 Mpx) are never scaled.
    working_pixels: int = 4_000_000

    def validate(self) -> None:
        p = "postprocess."
        _check(self.crf_iterations >= 0, p + "crf_iterations", self.crf_iterations,
               "an integer >= 0")
        for key in ("crf_gaussian_sxy", "crf_bilateral_sxy", "crf_bilateral_srgb"):
            _check(getattr(self, key) > 0, p + key, getattr(self, key), "a positive number")
        for key in ("crf_gaussian_weight", "crf_bilateral_weight"):
            _check(getattr(self, key) >= 0, p + key, getattr(self, key), "a number >= 0")
        _check(self.orientations >= 2, p + "orientations", self.orientations, "an integer >= 2")
        _check(self.cue_radius >= 1, p + "cue_radius", self.cue_radius, "an integer >= 1")
        for key in ("brightness_levels", "colour_levels", "texture_levels"):
            levels = getattr(self, key)
            _check(all(0 <= x <= 5 for x in levels) and len(set(levels)) == len(levels),
                   p + key, list(levels), "distinct pyramid levels from 0 to 5")
        _check(self.histogram_bins >= 2, p + "histogram_bins", self.histogram_bins,
               "an integer >= 2")
        _check(self.textons >= 2, p + "textons", self.textons, "an integer >= 2")
        w = self.cue_weights
        _check(len(w) == 4 and all(x >= 0 for x in w) and sum(w) > 0, p + "cue_weights",
               list(w), "4 weights >= 0 (brightness, colour a, colour b, texture), not all 0")
        _check(self.spectral_weight >= 0, p + "spectral_weight", self.spectral_weight,
               "a number >= 0")
        _check(self.spectral_rho > 0, p + "spectral_rho", self.spectral_rho, "a positive number")
        _check(self.wnet_affinity_weight >= 0, p + "wnet_affinity_weight",
               self.wnet_affinity_weight, "a number >= 0")
        _check(self.spectral_vectors >= 1, p + "spectral_vectors", self.spectral_vectors,
               "an integer >= 1")
        _check(0.0 <= self.gpb_weight <= 1.0, p + "gpb_weight", self.gpb_weight,
               "a number in [0, 1]")
        _check(self.wnet_cue_weight >= 0, p + "wnet_cue_weight", self.wnet_cue_weight,
               "a number >= 0")
        _check(0.0 <= self.wnet_region_weight <= 1.0, p + "wnet_region_weight",
               self.wnet_region_weight, "a number in [0, 1]")
        _check(0.0 <= self.off_boundary_strength <= 1.0, p + "off_boundary_strength",
               self.off_boundary_strength, "a number in [0, 1]")
        _check(0.0 < self.threshold < 1.0, p + "threshold", self.threshold, "a number in (0, 1)")
        _check(self.working_pixels >= 1, p + "working_pixels", self.working_pixels,
               "an integer >= 1")


@dataclass(frozen=True)
class Config:
    """The whole experiment. `about` says what the config is for, how long it runs and what it
    should reach."""

    about: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if dataclasses.is_dataclass(section):
                section.validate()
        # Training crops at a multiple of 2**depth so that no step spends time on padding.
        multiple = 2 ** self.model.depth
        _check(self.data.image_size % multiple == 0, "data.image_size", self.data.image_size,
               f"a multiple of 2**model.depth = {multiple}")

    def with_overrides(self, overrides=()) -> Config:
        """This config with `"section.key=value"` overrides applied (as `load_config` applies
        them), validated again."""
        return config_from_dict(config_to_dict(self), overrides)


def _coerce(value, hint, key: str):
    """`value` from JSON as the type `hint`, or a ConfigError naming `key`."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key)
    if origin is Literal:
        _check(value in args, key, value, "one of " + ", ".join(repr(a) for a in args))
        return value
    if origin is tuple:
        _check(isinstance(value, (list, tuple)), key, value, "a list")
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if hint is bool:
        _check(isinstance(value, bool), key, value, "true or false")
    elif hint is int:
        _check(isinstance(value, int) and not isinstance(value, bool), key, value, "an integer")
    elif hint is float:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), key, value,
               "a number")
        return float(value)
    elif hint is str:
        _check(isinstance(value, str), key, value, "a string")
    return value


def _build(cls, data, prefix: str):
    where = prefix or "the config"
    _check(isinstance(data, dict), where, data, "an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"unknown key {key!r}; {where} takes: {', '.join(sorted(names))}")
    kwargs = {
        name: _coerce(value, hints[name], f"{prefix}.{name}" if prefix else name)
        for name, value in data.items()
    }
    return cls(**kwargs)


def _parse_override(text: str) -> tuple[list[str], object]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r}: expected section.key=value")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip().split("."), value


def config_from_dict(data: dict, overrides=()) -> Config:
    data = json.loads(json.dumps(data))  # a private, JSON-shaped copy
    for text in overrides:
        path, value = _parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
        node[path[-1]] = value
    config = _build(Config, data, "")
    config.validate()
    return config


def load_config(path, overrides=()) -> Config:
    """Read a JSON config file, apply `"section.key=value"` overrides, validate."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    try:
        return config_from_dict(data, overrides)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def config_to_dict(config: Config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def save_config(config: Config, path) -> None:
    """Write the config as JSON atomically (a reader never sees half a file)."""
    atomic_write_text(path, json.dumps(config_to_dict(config), indent=2) + "\n")
