"""The results of `wnet-tf evaluate --out` as the page shows them: one method per folder holding
summary.json (with several --ucm, one such folder per method under --out)."""

import csv
import json
from pathlib import Path


def find_evaluations(folder):
    """The evaluation folders in `folder`: itself if it holds summary.json, else the nearest
    subfolders that do, one or two levels down (`evaluate --out` with several --ucm writes one
    folder per method, and may itself write into a subfolder)."""
    folder = Path(folder)
    if (folder / "summary.json").is_file():
        return [folder]
    found = sorted(folder.glob("*/summary.json")) or sorted(folder.glob("*/*/summary.json"))
    return [p.parent for p in found]


def _rows(path):
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_evaluation(folder):
    """One method's figures: its summary, per-image scores and thresholds, and its PR curve.

    Raises OSError or ValueError (naming the file) when summary.json is unreadable."""
    folder = Path(folder)
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder / 'summary.json'}: {err}") from None
    images = {}
    for row in _rows(folder / "per_image.csv"):
        images[row["image"]] = {
            "SC": float(row["sc"]), "PRI": float(row["pri"]), "VI": float(row["vi"]),
            "OIS": float(row["sc_threshold"]),
        }  # fmt: skip
    for row in _rows(folder / "boundary_per_image.csv"):
        entry = images.setdefault(row["image"], {"OIS": float(row["threshold"])})
        entry["F"] = float(row["F"])
    curve = [
        [float(r["threshold"]), float(r["recall"]), float(r["precision"])]
        for r in _rows(folder / "boundary_per_threshold.csv")
    ]
    # Where each slider starts: the region benchmark's ODS (covering), else the boundary one's.
    if "SC" in summary:
        ods = summary["SC"]["ODS_threshold"]
    else:
        ods = summary.get("boundary", {}).get("ODS", {}).get("threshold")
    return {"name": folder.name, "summary": summary, "ods": ods, "images": images, "pr": curve}
