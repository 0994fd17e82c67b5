"""wnet_tf: W-Net (Xia & Kulis 2017) for fully unsupervised image segmentation.

Importing the package does not import TensorFlow (the modules that need it do). It does set one
environment default, read by TensorFlow when it allocates its first tensor: the pooling (BFC)
CPU allocator. TensorFlow's default CPU allocator hands every tensor above 32 MB back to the
operating system when it is freed, so each training step page-faults its large activations anew:
at 224x224, batch 10, 5 million faults per step and a third of the CPU time in the kernel, 53 s
per step against 32 s with the pool (which keeps about 1 GB more resident). An explicit
TF_CPU_ALLOCATOR_USE_BFC=false in the environment wins.
"""

import os

os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"
