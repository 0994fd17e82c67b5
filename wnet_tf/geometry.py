"""The shape a model's training images had, which inference gives the images it segments."""

from __future__ import annotations

from dataclasses import dataclass

from wnet_tf.config import DataConfig


@dataclass(frozen=True)
class Geometry:
    """The shape a model's training images had: the run's `data.preprocess` and
    `data.image_size`. "resize" squashed every image to image_size x image_size; the crops
    scaled its shorter side to image_size first, so the model saw objects at that scale.
    `scales` (inference only, `data.inference_scales`): the factors of image_size at which
    inference sees an image, its probabilities averaged over them; (1,) is the training scale
    alone."""

    preprocess: str
    image_size: int
    scales: tuple[float, ...] = (1.0,)

    def input_size(self, height: int, width: int, scale: float = 1.0) -> tuple[int, int]:
        """(h, w) at which the model should see an image of height x width, as training saw
        it (times `scale`): the whole image for "resize", the shorter side at image_size for
        the crops (with the rounding of wnet_tf.data.resize_short_side)."""
        size = max(1, round(self.image_size * scale))
        if self.preprocess == "resize":
            return size, size
        factor = size / min(height, width)
        return tuple(max(size, round(n * factor)) for n in (height, width))

    def input_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """`input_size` at each of `scales`."""
        return [self.input_size(height, width, s) for s in self.scales]

    @property
    def training(self) -> tuple[str, int]:
        """What training fixed (the inference scales aside)."""
        return self.preprocess, self.image_size

    @classmethod
    def short_side(cls, size: int) -> Geometry:
        """The shorter side scaled to `size`, whatever the model was trained at."""
        return cls("center_crop", int(size))

    @classmethod
    def of(cls, data: DataConfig) -> Geometry:
        """The geometry of a run's data section."""
        return cls(data.preprocess, data.image_size, tuple(data.inference_scales))
