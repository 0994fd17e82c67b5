"""The benchmark's results: a text table for the terminal, and summary.json, per_image.csv and
per_threshold.csv for a folder (written atomically)."""

import csv
import io
import json
from pathlib import Path

from wnet_tf.files import atomic_write_text


def format_table(benchmark):
    """The headline figures as a small text table, six significant digits as the benchmark."""
    s = benchmark.summary
    lines = [
        f"{s['images']} images, {s['nthresh']} thresholds",
        f"{'':4}{'ODS':>10}{'threshold':>11}{'OIS':>10}{'Best':>10}",
    ]
    for metric in ("SC", "PRI", "VI"):
        m = s[metric]
        best = f"{m['Best']:10.6g}" if "Best" in m else ""
        lines.append(f"{metric:4}{m['ODS']:10.6g}{m['ODS_threshold']:11.6g}{m['OIS']:10.6g}{best}")
    return "\n".join(lines)


def _csv(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_results(out_dir, benchmark):
    """Writes summary.json, per_image.csv and per_threshold.csv into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_threshold = [
        {"threshold": t.item(), "sc": sc, "pri": pri, "vi": vi}
        for t, sc, pri, vi in zip(
            benchmark.thresholds, benchmark.sc, benchmark.pri, benchmark.vi, strict=True
        )
    ]
    atomic_write_text(out_dir / "summary.json", json.dumps(benchmark.summary, indent=2) + "\n")
    atomic_write_text(out_dir / "per_image.csv", _csv(benchmark.per_image))
    atomic_write_text(out_dir / "per_threshold.csv", _csv(per_threshold))
