"""`wnet-tf view` on the 200 BSDS500 test images and their gPb-owt-ucm hierarchies: the time to
write the page, the time until headless Chromium has drawn the first thumbnails, and the time the
slider takes to re-cut a 481x321 hierarchy (and to draw it).

    python bench/view.py [--data BSDS500_ROOT] [--json PATH]

Targets: writing under 30 s, first thumbnails under 2 s, a re-cut under 50 ms.
Needs Debian's chromium and chromium-driver, and selenium (the dev extra).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import print_table

COLUMNS = ["measure", "value", "unit", "target"]

FIRST_THUMBS = """
const imgs = [...document.querySelectorAll('#grid img')]
  .filter((i) => i.getBoundingClientRect().top < innerHeight);
return imgs.length && imgs.every((i) => i.dataset.loaded)
  ? [imgs.length, Math.max(...imgs.map((i) => +i.dataset.loaded))] : null;
"""

MOVE = """
const s = document.getElementById('slider'), start = performance.now();
s.value = arguments[0];
s.dispatchEvent(new Event('input'));
return [wnetView.state.cutMs, performance.now() - start, wnetView.state.count];
"""


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def browser():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_view import chromium

    return chromium()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("WNET_BSDS_ROOT",
                                                         "/work/shared/data/bsds500"))
    parser.add_argument("--json", help="write the records (a JSON list) here")
    args = parser.parse_args()
    from selenium.webdriver.support.ui import WebDriverWait

    from wnet_tf.view import write_view
    from wnet_tf.workers import usable_cores

    data = Path(args.data)
    out = Path(tempfile.mkdtemp(prefix="view-bench-"))
    start = time.perf_counter()
    page, problems = write_view(data / "gpb_owt_ucm" / "test", out, images=data / "images" / "test",
                                workers=usable_cores())
    write_s = time.perf_counter() - start
    images = len(list((out / "index_files" / "data").glob("*.js")))
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6

    driver = browser()
    try:
        loads = []
        for _ in range(3):  # the first load also warms the browser's caches of its own code
            driver.get("about:blank")
            driver.get(page.as_uri())
            drawn = WebDriverWait(driver, 30, 0.02).until(lambda d: d.execute_script(FIRST_THUMBS))
            loads.append(drawn)
        name = sorted(p.stem for p in (data / "gpb_owt_ucm" / "test").glob("*.mat"))[0]
        driver.get(f"{page.as_uri()}#{name}")
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return wnetView.state.name") == name)
        moves = [driver.execute_script(MOVE, t) for t in [0.05 * k for k in range(1, 20)] * 3]
    finally:
        driver.quit()
    cut_ms = statistics.median(m[0] for m in moves)
    draw_ms = statistics.median(m[1] for m in moves)
    records = [
        {"measure": f"write the page ({images} images, {size_mb:.0f} MB)", "value": write_s,
         "unit": "s", "target": "< 30"},
        {"measure": f"first thumbnails drawn ({loads[-1][0]} on screen), first load",
         "value": loads[0][1] / 1000, "unit": "s", "target": "< 2"},
        {"measure": "first thumbnails drawn, median of 3 loads",
         "value": statistics.median(d[1] for d in loads) / 1000, "unit": "s", "target": "< 2"},
        {"measure": "slider re-cut, 481x321 (median)", "value": cut_ms, "unit": "ms",
         "target": "< 50"},
        {"measure": "slider re-cut and draw (median)", "value": draw_ms, "unit": "ms",
         "target": "-"},
    ]
    print(f"CPU: {cpu_name()}, {usable_cores()} usable cores; page in {out}")
    if problems:
        print("problems: " + "; ".join(problems))
    print_table(records, COLUMNS)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"cpu": cpu_name(), "cores": usable_cores(), "records": records}, indent=2) + "\n")


if __name__ == "__main__":
    main()
