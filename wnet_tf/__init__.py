"""wnet_tf: W-Net (Xia & Kulis 2017) for fully unsupervised image segmentation.

Importing the package imports nothing heavy and changes no setting: the modules that need
TensorFlow import it, and the entry points configure it (`wnet_tf.entry`).
"""

__version__ = "0.1.0"
