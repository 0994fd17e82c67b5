"""What every entry point (the `wnet-tf` command, the `python -m` mains, bench/harness.py) sets up
before TensorFlow starts, so that importing any part of the package changes nothing."""

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

# TensorFlow's C++ log lines (absl's "I0000 00:00:1796401716.242773 6873 port.cc:153] ..."), the
# notice absl writes before them, and the continuation of the CPU-instructions notice.
_NATIVE_LOG = re.compile(r"[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] |WARNING: All log "
                         r"messages before absl::InitializeLog|To enable the following instr")


def configure_tensorflow(verbose=False):
    """Picks TensorFlow's pooling (BFC) CPU allocator unless the environment already says
    otherwise (an explicit TF_CPU_ALLOCATOR_USE_BFC=false wins), and keeps TensorFlow's C++ log
    lines off the terminal unless `verbose` or the user asked for them (TF_CPP_MIN_LOG_LEVEL 0
    or 1). Call it before TensorFlow is imported.

    TensorFlow's default CPU allocator hands every tensor above 32 MB back to the operating
    system when it is freed, so each training step page-faults its large activations anew: at
    224x224, batch 10, 5 million faults per step and a third of the CPU time in the kernel, 53 s
    per step against 32 s with the pool (which keeps about 1 GB more resident).
    """
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") in ("0", "1"):
        return
    # Errors too: a failed cuInit on a machine without a GPU is one. TensorFlow raises its real
    # errors as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(
            isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


class _QuietImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports tensorflow with file descriptor 2 captured: TensorFlow 2.21 writes its start-up
    lines (oneDNN, CUDA, CPU instructions) from C++ before it reads TF_CPP_MIN_LOG_LEVEL, so only
    the descriptor can hold them back. Whatever else was written meanwhile (a Python warning)
    is passed on. Wherever the package first imports TensorFlow (or Keras does), it goes
    through here, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            self.loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                text = captured.read().decode(errors="replace")
                sys.stderr.write("".join(line for line in text.splitlines(keepends=True)
                                         if not _NATIVE_LOG.match(line)))
