"""Quiet commands: TensorFlow's C++ start-up lines stay off a command's output unless asked for."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NATIVE_LINE = re.compile(r"^[IWEF]\d{4} |absl|oneDNN|cuda", re.MULTILINE)


def run(*args, env):
    return subprocess.run([sys.executable, "-m", "wnet_tf.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env, check=False)


def test_a_command_says_only_what_the_product_says(tmp_path):
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(tmp_path / "a.png")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)  # this checkout, whatever the installed one is
    quiet = run("segment", str(tmp_path / "a.png"), "--out", str(tmp_path / "out"), env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and "1 image(s) segmented" in quiet.stdout
    # The same command with --verbose: TensorFlow's lines are there to be held back.
    loud = run("--verbose", "segment", str(tmp_path / "a.png"), "--out", str(tmp_path / "out"),
               env=env)
    assert loud.returncode == 0 and NATIVE_LINE.search(loud.stderr), loud.stderr
