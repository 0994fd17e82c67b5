"""Score segmentations on BSDS as the official region benchmark does (SC, PRI, VI at ODS / OIS).

    python tools/bsds_eval.py --gt GT_DIR (--ucm DIR | --segs DIR) [--nthresh 99] [--out DIR]
        [--jobs N] [--allow-missing]

The same command as `wnet-tf evaluate`; see wnet_tf/evaluate.py and wnet_tf/bsds/.
"""

from wnet_tf.evaluate import command

if __name__ == "__main__":
    command()
