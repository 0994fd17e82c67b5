"""The shape a model's training images had, which inference gives the images it segments."""

from __future__ import annotations

from dataclasses import dataclass

from wnet_tf.config import DataConfig


@dataclass(frozen=True)
class Geometry:
    """The shape a model's training images had: the run's `data.preprocess` and
    `data.image_size`. "resize" squashed every image to image_size x image_size; the crops
    scaled its shorter side to image_size first, so the model saw objects at that scale."""

    preprocess: str
    image_size: int

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) at which the model should see an image of height x width, as training saw
        it: the whole image for "resize", the shorter side at image_size for the crops (with
        the rounding of wnet_tf.data.resize_short_side)."""
        size = self.image_size
        if self.preprocess == "resize":
            return size, size
        scale = size / min(height, width)
        return tuple(max(size, round(n * scale)) for n in (height, width))

    @classmethod
    def short_side(cls, size: int) -> Geometry:
        """The shorter side scaled to `size`, whatever the model was trained at."""
        return cls("center_crop", int(size))

    @classmethod
    def of(cls, data: DataConfig) -> Geometry:
        """The geometry of a run's data section."""
        return cls(data.preprocess, data.image_size)
