"""`wnet-tf view`: the files it writes, its messages on bad input, and the page itself in headless
Chromium, whose live cut must equal `cut_hierarchy` at the same threshold."""

import base64
import json
import os
import re
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from click.testing import CliRunner
from PIL import Image

from tests.test_bsds import ucm2_of
from wnet_tf import bsds
from wnet_tf.view import ViewError, write_view
from wnet_tf.view.cli import command

SIZE = (30, 44)  # H, W


def hierarchy(rng):
    """Quadrants at 0.6, 4x4 blocks at 0.3, and noise levels on a third of the other cells, with
    ties, so that thresholds equal to a level, corners and 8-connectivity all matter."""
    rows, cols = np.indices(SIZE)
    ucm2 = np.maximum(ucm2_of((rows >= 15) * 2 + (cols >= 22), 0.6),
                      ucm2_of((rows // 8) * 8 + cols // 11, 0.3))
    noise = rng.choice([0.1, 0.2, 0.3, 0.45], size=ucm2.shape) * (rng.random(ucm2.shape) < 0.3)
    ucm2 = np.maximum(ucm2, noise)
    ucm2[1::2, 1::2] = 0
    return ucm2


def write_ground_truth(path, *annotators):
    """A BSDS ground-truth .mat whose 'Boundaries' mark where the labels change."""
    cell = np.empty((1, len(annotators)), dtype=object)
    for k, labels in enumerate(annotators):
        edges = np.zeros(labels.shape, np.uint8)
        edges[:, :-1] |= labels[:, 1:] != labels[:, :-1]
        edges[:-1] |= labels[1:] != labels[:-1]
        record = np.empty((1, 1), dtype=[("Segmentation", object), ("Boundaries", object)])
        record[0, 0] = (labels.astype(np.uint16), edges)
        cell[0, k] = record
    sio.savemat(path, {"groundTruth": cell})


def photo(rng):
    base = np.linspace(0, 255, SIZE[1])[None, :, None] * np.array([1.0, 0.5, 0.2])
    return np.clip(base + rng.normal(0, 20, SIZE + (3,)), 0, 255).astype(np.uint8)


@pytest.fixture
def folder(tmp_path):
    """postprocess outputs a, b, c with their images, a's W-Net segments, and an evaluation of
    two methods (this folder `ucm` and `other`) written by `evaluate --out`."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for sub in ("ucm", "other", "gt", "segments"):
        (tmp_path / sub).mkdir()
    for name in "abc":
        Image.fromarray(photo(rng)).save(tmp_path / "images" / f"{name}.jpg", quality=95)
        sio.savemat(tmp_path / "ucm" / f"{name}.mat", {"ucm2": hierarchy(rng)})
        sio.savemat(tmp_path / "other" / f"{name}.mat", {"ucm2": hierarchy(rng)})
    # Ground truth the hierarchies fit to different degrees: halves, quadrants, 4x4 blocks.
    rows, cols = np.indices(SIZE)
    truths = {"a": [(rows >= 15) + 1, (cols >= 22) + 1], "b": [(rows >= 15) * 2 + (cols >= 22) + 1],
              "c": [(rows // 8) * 8 + cols // 11 + 1]}
    for name, annotators in truths.items():
        write_ground_truth(tmp_path / "gt" / f"{name}.mat", *annotators)
    Image.fromarray((np.indices(SIZE)[1] // 11).astype(np.uint8)).save(
        tmp_path / "segments" / "a_labels.png")
    for method in ("ucm", "other"):
        result = bsds.evaluate_dataset(tmp_path / "gt", tmp_path / method, "ucm", boundaries=True)
        bsds.write_results(tmp_path / "eval" / method, result.benchmark, result.boundary)
    return tmp_path


def decode(encoded):
    dtype = {1: "<u1", 2: "<u2", 4: "<u4"}[encoded["bytes"]]
    return np.frombuffer(zlib.decompress(base64.b64decode(encoded["data"])), dtype)


def data_of(page_dir, name):
    text = (page_dir / "index_files" / "data" / f"{name}.js").read_text()
    return json.loads(re.fullmatch(r'wnetView.register\("\w+", (.*)\);\n', text).group(1))


def canonical(labels):
    """Region ids numbered by their first pixel in raster order, as the page numbers them."""
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse].reshape(labels.shape)


def python_cut(ucm2, t):
    return canonical(bsds.cut_hierarchy(ucm2, [t]).segmentation(0))


def test_data_files_hold_the_hierarchy_exactly(folder):
    shutil.move(folder / "eval", folder / "ucm" / "eval")  # found there without --eval
    page, problems = write_view(folder / "ucm")
    assert page == folder / "ucm" / "index.html" and problems == []
    data = data_of(folder / "ucm", "a")
    ucm2 = sio.loadmat(folder / "ucm" / "a.mat")["ucm2"]
    levels = np.array(data["levels"])
    assert (levels[decode(data["ucm"])].reshape(ucm2.shape) == ucm2).all()
    assert (data["width"], data["height"]) == (SIZE[1], SIZE[0])
    assert data["photo"].startswith("data:image/jpeg;base64,")
    assert (decode(data["segments"]).reshape(SIZE) == np.indices(SIZE)[1] // 11).all()
    assert "segments" not in data_of(folder / "ucm", "b")
    index = (folder / "ucm" / "index_files" / "index.js").read_text()
    index = json.loads(index.removeprefix("wnetView.start(").removesuffix(");\n"))
    assert [e["name"] for e in index["evaluations"]] == ["other", "ucm"]
    assert index["evaluations"][index["method"]]["name"] == "ucm"  # this folder's sliders
    summary = json.loads((folder / "ucm" / "eval" / "ucm" / "summary.json").read_text())
    assert index["evaluations"][1]["ods"] == summary["SC"]["ODS_threshold"]
    assert sorted(index["evaluations"][1]["images"]) == ["a", "b", "c"]
    # Nothing the page needs lies outside it: no http(s) address, no file beyond index_files.
    for path in (folder / "ucm" / "index_files").iterdir():
        if path.is_file():
            assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", path.read_text()), path


def test_bad_input_is_named_and_the_rest_shown(folder):
    ucm = folder / "ucm"
    (ucm / "c.mat").write_bytes(b"not a mat file")
    sio.savemat(ucm / "d.mat", {"ucm2": hierarchy(np.random.default_rng(1))})  # no image
    Image.fromarray(photo(np.random.default_rng(2))).save(folder / "images" / "e.png")  # no ucm
    (folder / "segments" / "a_labels.png").write_bytes(b"not a png")
    page, problems = write_view(ucm, images=folder / "images", segments=folder / "segments")
    assert any(p.startswith("a_labels.png: unreadable label map") for p in problems), problems
    assert any(p.startswith("c.mat: unreadable .mat") for p in problems), problems
    assert "no image for d: shown without a photo" in problems
    assert "no hierarchy for e: not shown" in problems
    index = (ucm / "index_files" / "index.js").read_text()
    assert '"name": "a"' in index and '"name": "d"' in index and '"name": "c"' not in index
    assert "photo" not in data_of(ucm, "d") and page.is_file()


def test_nothing_to_show_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(command, [str(tmp_path / "empty")])
    assert result.exit_code == 1 and "holds no NAME.mat ucm2 hierarchies" in result.output
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.mat").write_bytes(b"junk")
    with pytest.raises(ViewError, match="x.mat: unreadable .mat"):
        write_view(tmp_path / "bad")


def test_command_writes_the_page_and_says_where(folder):
    result = CliRunner().invoke(command, [str(folder / "ucm"), "--eval", str(folder / "eval"),
                                          "--out", str(folder / "page"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert (folder / "page" / "index.html").as_uri() in result.output
    assert len(list((folder / "page" / "index_files" / "thumbs").glob("*.jpg"))) == 3
    from wnet_tf.cli import main

    result = CliRunner().invoke(main, ["view", str(folder / "ucm"), "--images", str(folder)])
    assert result.exit_code == 0 and "no image for a, b, c" in result.output


# --------------------------------------------------------------------------- in a real browser


def chromium():
    """A headless Chromium driven by Selenium through Debian's chromedriver, or a skip that says
    what is missing. The browser is never downloaded (no Selenium Manager)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no chromium / chromedriver here: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))


@pytest.fixture
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def wait_until_open(browser, image):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20).until(
        lambda d: d.execute_script("return wnetView.state.name") == image)


def open_page(browser, page, image):
    browser.get(page.as_uri() + "#" + image)
    wait_until_open(browser, image)


def page_cut(browser):
    count, labels = browser.execute_script(
        "const s = wnetView.state; return [s.count, Array.from(s.labels)];")
    return count, np.array(labels).reshape(SIZE)


def test_the_page_cuts_as_python_does(folder, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page, _ = write_view(folder / "ucm", evaluations=[folder / "eval"])
    open_page(browser, page, "a")
    ucm2 = sio.loadmat(folder / "ucm" / "a.mat")["ucm2"]
    summary = json.loads((folder / "eval" / "ucm" / "summary.json").read_text())
    ods = summary["SC"]["ODS_threshold"]
    assert browser.execute_script("return wnetView.state.threshold") == ods

    # The user's way: the slider moved by its keys, one step of 0.001 per key press.
    slider = browser.find_element(By.ID, "slider")
    slider.send_keys(*[Keys.ARROW_RIGHT] * 5)
    moved = browser.execute_script("return wnetView.state.threshold")
    assert moved == pytest.approx(ods + 0.005)
    count, labels = page_cut(browser)
    expected = python_cut(ucm2, moved)
    assert count == expected.max() + 1
    assert browser.find_element(By.ID, "count").text == f"{count} regions"
    for y, x in [(0, 0), (3, 40), (14, 21), (15, 22), (29, 43)]:
        assert labels[y, x] == expected[y, x]

    # Thresholds at levels (ties), between them, below the lowest and above the highest.
    for t in (0.0, 0.1, 0.15, 0.2, 0.3, 0.31, 0.45, 0.6, 1.0):
        browser.execute_script(
            "const s = document.getElementById('slider'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('input'));", t)
        count, labels = page_cut(browser)
        expected = python_cut(ucm2, browser.execute_script("return wnetView.state.threshold"))
        assert count == expected.max() + 1, t
        assert (labels == expected).all(), t
    assert page_cut(browser)[0] == 1 and python_cut(ucm2, 0.0).max() + 1 > 16

    ois = [m.get_attribute("title") for m in browser.find_elements(By.CSS_SELECTOR, "#marks span")]
    assert ois[0] == f"ODS threshold {ods:g}" and ois[1].startswith("OIS threshold")
    for mode in ("mean", "segments", "boundaries"):
        browser.find_element(By.CSS_SELECTOR, f"input[value={mode}]").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#summary tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows[1:]] == ["other", "ucm"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#pr polyline")) == 2
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    artifacts = Path(os.environ.get("WNET_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(artifacts / "view.png"))


def test_the_page_sorts_scores_and_opens_images(folder, browser):
    from selenium.webdriver.common.by import By

    page, _ = write_view(folder / "ucm", evaluations=[folder / "eval" / "ucm"])
    browser.get(page.as_uri())
    thumbs = browser.find_elements(By.CSS_SELECTOR, "#grid img")
    assert [t.get_attribute("alt") for t in thumbs] == ["a", "b", "c"]
    browser.find_element(By.TAG_NAME, "details").click()
    browser.find_element(By.CSS_SELECTOR, "#scores th:nth-child(2)").click()  # SC, ascending
    cells = [r.find_elements(By.TAG_NAME, "td") for r in
             browser.find_elements(By.CSS_SELECTOR, "#scores tbody tr")]
    sc = [float(c[1].text) for c in cells]
    assert sc == sorted(sc) and sc[0] < sc[-1]
    worst = cells[0][0].text
    browser.find_elements(By.CSS_SELECTOR, "#scores tbody tr")[0].click()
    wait_until_open(browser, worst)
    thumbs[2].click()
    wait_until_open(browser, "c")
    browser.find_element(By.ID, "next").click()
    wait_until_open(browser, "a")
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
