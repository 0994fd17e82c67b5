"""wnet_tf: W-Net (Xia & Kulis 2017) for fully unsupervised image segmentation.

Importing the package has no side effects: TensorFlow is imported by the modules that need it.
"""

__version__ = "0.1.0"
