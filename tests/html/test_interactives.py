"""The book's interactives respond without a kernel: headless Chromium moves every control of every player.

``widgets.interactive_figure`` emits, beside its live widget, a static player (``div.rnncourse-player``): one
``<input type=range>`` or ``<select>`` per control, the pre-rendered frames in a JSON script, and inline
JavaScript that swaps them. For each chapter page with a player, a copy of the page with a test script is
loaded; on load the script moves each control in turn (sets its value, dispatches the ``input`` event) and
writes what the page then shows into the DOM, which ``--dump-dom`` returns. The frames it should show are
read here from the page's own data. Also checked: every chapter with an interactive shows a player (not the
widget view, which needs a kernel), and every chapter page weighs under 5 MB with its images.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from test_built_book import ROOT, TOC_PAGES, _dump_dom, _require_build

PLAYER = re.compile(
    r'<div class="rnncourse-player" id="([\w-]+)">.*?<script type="application/json">(.*?)</script>', re.S
)
MAX_PAGE_BYTES = 5_000_000

# The test script: move each control of each player to its last position (its first if already last).
HARNESS = """<script>window.addEventListener("load", function () {
  var report = [];
  document.querySelectorAll(".rnncourse-player").forEach(function (p) {
    var img = p.querySelector("img"), controls = p.querySelectorAll("[data-control]");
    function idx(e) { return e.tagName === "SELECT" ? e.selectedIndex : +e.value; }
    function all() { return Array.prototype.map.call(controls, idx); }
    var start = {player: p.id, indices: all(), src: img.getAttribute("src")};
    report.push(start);
    controls.forEach(function (e, i) {
      var n = e.tagName === "SELECT" ? e.options.length : +e.max + 1, to = idx(e) === n - 1 ? 0 : n - 1;
      var before = img.getAttribute("src");
      if (e.tagName === "SELECT") { e.selectedIndex = to; } else { e.value = String(to); }
      e.dispatchEvent(new Event("input", {bubbles: true}));
      report.push({player: p.id, control: i, kind: e.tagName + ":" + (e.type || ""), to: to,
                   indices: all(), before: before, src: img.getAttribute("src"),
                   readout: e.parentNode.querySelector("output").textContent});
    });
  });
  var pre = document.createElement("pre");
  pre.id = "rnncourse-player-test";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
});</script>"""


def _players(page: Path) -> dict:
    """``{player id: data}`` (names, labels, frames) from the page as built."""
    text = page.read_text(encoding="utf-8")
    return {m.group(1): json.loads(m.group(2)) for m in PLAYER.finditer(text)}


def _interactive_chapters() -> list[str]:
    """Chapter pages (file names) whose notebook makes an interactive figure."""
    names = []
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if re.search(r"interactive_figure\(|_widget\(", code):
            names.append(nb.stem + ".html")
    return names


PLAYER_PAGES = [p for p in TOC_PAGES if 'class="rnncourse-player"' in p.read_text(encoding="utf-8")]


def test_every_interactive_chapter_shows_a_player():
    _require_build()
    expected = _interactive_chapters()
    assert expected, "no chapter makes an interactive figure; the player checks would test nothing"
    assert sorted(p.name for p in PLAYER_PAGES) == expected
    for page in PLAYER_PAGES:  # the book prefers the player (text/html) over the widget view
        assert "application/vnd.jupyter.widget-view+json" not in page.read_text(encoding="utf-8"), page.name


@pytest.mark.parametrize("page", PLAYER_PAGES, ids=lambda p: p.name)
def test_moving_a_control_shows_its_frame(page):
    players = _players(page)
    assert players, f"no player data found on {page.name}"
    probe = page.with_name(f".player-test-{page.name}")  # beside the page: relative links still resolve
    try:
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", HARNESS + "</body>"), "utf-8")
        dom = _dump_dom(probe)
    finally:
        probe.unlink(missing_ok=True)
    _check(players, dom, page.name)


def _check(players: dict, dom: str, name: str) -> None:
    """The test script's report in ``dom``: each move changed the image to the frame of the new values."""
    found = re.search(r'<pre id="rnncourse-player-test"[^>]*>(.*?)</pre>', dom, re.S)
    assert found, f"the test script did not run on {name}"
    report = json.loads(html.unescape(found.group(1)))
    moves = [r for r in report if "control" in r]
    assert {r["player"] for r in report} == set(players)
    assert len(moves) == sum(len(d["names"]) for d in players.values())
    for r in report:
        data = players[r["player"]]
        frame = data["frames"][",".join(map(str, r["indices"]))]
        assert r["src"] == frame, f"{name}: the image is not the frame for {r['indices']}"
        if "control" in r:
            i = r["control"]
            control, n = data["names"][i], len(data["labels"][i])
            assert r["kind"] in ("INPUT:range", "SELECT:select-one"), f"{control}: a {r['kind']} control"
            assert n > 1 and r["src"] != r["before"], f"{name}: moving {control} did not change the image"
            assert r["readout"] == data["labels"][i][r["to"]], f"{name}: the readout of {control} is wrong"


def test_player_with_a_slider_and_a_select(tmp_path):
    """Independent of the build: a player with a range input and a drop-down, on a bare page."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from rnncourse import plots, widgets

    def plot_fn(sigma=1.0, kind="a"):
        return plots.plot_lines(np.arange(4), {kind: sigma ** np.arange(4)}, title=f"{kind}: {sigma:g}")

    box = widgets.interactive_figure(plot_fn, sigma=(0.5, 1.5, 0.5, 1.0), kind=["a", "b", "c"])
    page = tmp_path / "player.html"
    page.write_text(f"<html><body>{box.player_html()}</body></html>", "utf-8")
    players = _players(page)
    page.write_text(page.read_text("utf-8").replace("</body>", HARNESS + "</body>"), "utf-8")
    assert [d["names"] for d in players.values()] == [["sigma", "kind"]]
    _check(players, _dump_dom(page), page.name)


@pytest.mark.parametrize("page", TOC_PAGES, ids=lambda p: p.name)
def test_page_weight(page):
    """A chapter page and the images it shows stay under about 5 MB."""
    text = page.read_text(encoding="utf-8")
    images = {(page.parent / src).resolve() for src in re.findall(r'<img[^>]+src="(?!data:)([^"]+)"', text)}
    total = page.stat().st_size + sum(p.stat().st_size for p in images if p.is_file())
    assert total < MAX_PAGE_BYTES, f"{page.name} weighs {total / 1e6:.1f} MB with its images"
