"""The static page of `wnet-tf view`: Python writes the data (`page`, `results`), plain classic
scripts in `static/` cut the hierarchy live in the browser and draw the evaluations."""

from wnet_tf.view.page import ViewError, write_view

__all__ = ["ViewError", "write_view"]
