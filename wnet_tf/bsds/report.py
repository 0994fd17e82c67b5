"""The benchmark's results: a text table for the terminal, and, for a folder (written atomically),
summary.json, our CSV tables, the boundary benchmark's own text files and the precision-recall curve
as a picture."""

import csv
import io
import json
from pathlib import Path

from wnet_tf.files import atomic_write, atomic_write_text


def format_table(benchmark, boundary=None):
    """The headline figures as a small text table, six significant digits as the benchmark.
    Either benchmark may be None."""
    lines = []
    if benchmark is not None:
        s = benchmark.summary
        lines += [
            f"{s['images']} images, {s['nthresh']} thresholds",
            f"{'':4}{'ODS':>10}{'threshold':>11}{'OIS':>10}{'Best':>10}",
        ]
        for metric in ("SC", "PRI", "VI"):
            m = s[metric]
            best = f"{m['Best']:10.6g}" if "Best" in m else ""
            lines.append(
                f"{metric:4}{m['ODS']:10.6g}{m['ODS_threshold']:11.6g}{m['OIS']:10.6g}{best}"
            )
    if boundary is not None:
        s = boundary.summary
        if benchmark is None:
            lines.append(f"{len(boundary.per_image)} images, {len(boundary.thresholds)} thresholds")
        ods, ois = s["ODS"], s["OIS"]
        lines += [
            f"{'boundary':9}{'F':>10}{'recall':>10}{'precision':>10}{'threshold':>11}",
            f"{'ODS':9}{ods['F']:10.6g}{ods['recall']:10.6g}{ods['precision']:10.6g}"
            f"{ods['threshold']:11.6g}",
            f"{'OIS':9}{ois['F']:10.6g}{ois['recall']:10.6g}{ois['precision']:10.6g}",
            f"{'AP':9}{s['AP']:10.6g}",
        ]
    return "\n".join(lines)


def _csv(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _printed(rows, formats):
    """Rows as MATLAB's fprintf prints them, e.g. '%10g %10g'."""
    lines = (" ".join(f"{v:{f}}" for v, f in zip(row, formats, strict=True)) for row in rows)
    return "".join(line + "\n" for line in lines)


def benchmark_files(boundary):
    """The boundary benchmark's own files, as collect_eval_bdry.m writes them: {name: text}."""
    s = boundary.summary
    ods, ois = s["ODS"], s["OIS"]
    summary = [ods["threshold"], ods["recall"], ods["precision"], ods["F"]]
    summary += [ois["recall"], ois["precision"], ois["F"], s["AP"]]
    per_threshold = zip(
        boundary.thresholds, boundary.recall, boundary.precision, boundary.f, strict=True
    )
    per_image = [
        [k + 1, r["threshold"], r["recall"], r["precision"], r["F"]]
        for k, r in enumerate(boundary.per_image)
    ]
    return {
        "eval_bdry.txt": _printed([summary], ["10g"] * 8),
        "eval_bdry_thr.txt": _printed(per_threshold, ["10g"] * 4),
        "eval_bdry_img.txt": _printed(per_image, ["10d"] + ["10g"] * 4),
    }


def write_results(out_dir, benchmark, boundary=None):
    """Writes into `out_dir` summary.json (its `boundary` section beside the region figures),
    per_image.csv and per_threshold.csv for the region benchmark, and for the boundary benchmark
    boundary_per_image.csv, boundary_per_threshold.csv, the benchmark's eval_bdry*.txt and
    pr_curve.png. Either benchmark may be None."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    if benchmark is not None:
        summary = dict(benchmark.summary)
        per_threshold = [
            {"threshold": t.item(), "sc": sc, "pri": pri, "vi": vi}
            for t, sc, pri, vi in zip(
                benchmark.thresholds, benchmark.sc, benchmark.pri, benchmark.vi, strict=True
            )
        ]
        atomic_write_text(out_dir / "per_image.csv", _csv(benchmark.per_image))
        atomic_write_text(out_dir / "per_threshold.csv", _csv(per_threshold))
    if boundary is not None:
        summary.setdefault("images", len(boundary.per_image))
        summary.setdefault("nthresh", len(boundary.thresholds))
        summary["boundary"] = boundary.summary
        per_threshold = [
            {"threshold": t.item(), "recall": r.item(), "precision": p.item(), "F": f.item()}
            for t, r, p, f in zip(
                boundary.thresholds, boundary.recall, boundary.precision, boundary.f, strict=True
            )
        ]
        atomic_write_text(out_dir / "boundary_per_image.csv", _csv(boundary.per_image))
        atomic_write_text(out_dir / "boundary_per_threshold.csv", _csv(per_threshold))
        for name, text in benchmark_files(boundary).items():
            atomic_write_text(out_dir / name, text)
        write_pr_curve(out_dir / "pr_curve.png", [(out_dir.name, boundary)])
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")


def write_pr_curve(path, curves):
    """A PNG of the precision-recall curves of `curves`, [(label, BoundaryBenchmark)]."""
    from wnet_tf.bsds.plot import pr_curve_png

    image = pr_curve_png(curves)
    atomic_write(path, image.save)
