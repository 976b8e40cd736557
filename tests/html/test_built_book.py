"""Checks of the built HTML book, run by `make test` after `jupyter-book build`.

* no page references a CDN (the book must work offline);
* headless Chromium loads every page: MathJax typesets the math (``mjx-container`` elements appear on
  every page that holds equations), and no page shows a Python traceback, an error output or stderr text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("RNNCOURSE_HTML", ROOT / "_build" / "html"))  # the built book
CDN_MARKERS = ("cdn.jsdelivr", "cdnjs", "unpkg")
TOC_PAGES = sorted((HTML / "book").glob("*.html"))


def _has_math(static_html: str) -> bool:
    return bool(re.search(r'class="[^"]*\bmath\b', static_html))


def _require_build() -> None:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}; run `make html` (or `make book`) before these tests.")


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.fail("headless Chromium is required for the browser check: `apt-get install chromium`.")
    return exe


def _dump_dom(page: Path) -> str:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--virtual-time-budget=15000", "--dump-dom", page.as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"chromium failed on {page.name} (exit {done.returncode}): {done.stderr[-500:]}")
    return done.stdout


def test_book_has_pages():
    _require_build()
    assert TOC_PAGES, "the built book has no pages under _build/html/book"


def test_no_page_references_a_cdn():
    _require_build()
    hits = []
    for page in sorted(HTML.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for marker in CDN_MARKERS:
            if marker in text:
                hits.append(f"{page.relative_to(HTML)}: {marker}")
    assert not hits, "pages reference a CDN:\n" + "\n".join(hits)


@pytest.fixture(scope="module")
def rendered():
    """The DOM of every page after JavaScript ran, keyed by page name."""
    _require_build()
    with ThreadPoolExecutor(max_workers=2) as pool:
        doms = list(pool.map(_dump_dom, TOC_PAGES))
    return dict(zip([p.name for p in TOC_PAGES], doms, strict=True))


MATH_PAGES = [p for p in TOC_PAGES if _has_math(p.read_text(encoding="utf-8"))]


def test_some_pages_have_math():
    _require_build()
    assert MATH_PAGES, "no built page holds equations; the math check would test nothing"


@pytest.mark.parametrize("page", MATH_PAGES, ids=lambda p: p.name)
def test_math_is_typeset(page, rendered):
    dom = rendered[page.name]
    assert "<mjx-container" in dom, f"MathJax did not typeset the math on {page.name}"
    assert "<mjx-merror" not in dom, f"MathJax reports a TeX error on {page.name}"


@pytest.mark.parametrize("page", TOC_PAGES, ids=lambda p: p.name)
def test_no_error_output(page, rendered):
    dom = rendered[page.name]
    assert "Traceback (most recent call last)" not in dom, f"{page.name} shows a Python traceback"
    for css in ("output error", "output traceback", "output stderr"):
        assert css not in dom, f"{page.name} shows an error or stderr output (class {css!r})"
