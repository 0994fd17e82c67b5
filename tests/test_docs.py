"""The README stays short and starts with its two commands; no page links to a file that is not
there."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, ROOT / "configs" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
# [text](target) and ![alt](target); the target ends at a space (a title) or the parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def commands(text):
    """The command lines of the fenced blocks, in order, without comments or blank lines."""
    for block in FENCE.findall(text):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                yield line


def relative_links(text):
    """Link targets that name a path in the repository (no scheme, not an anchor alone)."""
    text = FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        yield target.split("#", 1)[0]


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 200


def test_the_readme_starts_with_make_demo_then_make_test():
    assert list(commands(README.read_text()))[:2] == ["make demo", "make test"]


def test_the_helpers_find_commands_and_links():
    text = ("```\nmake demo   # x\n\nmake test\n```\n"
            "[a](docs/x.md#y) ![b](p.png) [c](https://e) [d](#z) `[e](no)`")
    assert list(commands(text)) == ["make demo", "make test"]
    assert list(relative_links(text)) == ["docs/x.md", "p.png"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    missing = [t for t in relative_links(page.read_text()) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing paths: {missing}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t).resolve() for t in relative_links(README.read_text())}
    pages = set((ROOT / "docs").glob("*.md"))
    assert {p.resolve() for p in pages} <= linked
