"""Keep the built book offline: serve the ipywidgets JavaScript locally and drop CDN references.

`make` fetches ``require.js`` and ``@jupyter-widgets/html-manager`` from the npm registry at install time
into ``.venv/share/rnncourse-widgets``; this extension copies them to ``_static/widgets`` of the built HTML.
The files are not placed in a source ``_static`` folder, because Jupyter Book adds every ``.js`` file found
there to every page.

Jupyter Book always loads sphinx-thebe, which writes a constant holding the CDN address of thebe into every
page even when live code (thebe) is switched off, as it is here; that dead inline script is removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.errors import ExtensionError


def _source(app) -> Path:
    return Path(app.confdir) / ".venv" / "share" / "rnncourse-widgets"


def _check(app) -> None:
    src = _source(app)
    missing = [name for name in ("require.js", "embed-amd.js") if not (src / name).is_file()]
    if missing:
        raise ExtensionError(
            f"offline widget JavaScript missing in {src}: {missing}; run `make venv` to fetch it from npm."
        )


def _copy(app, exc) -> None:
    if exc is None and app.builder.format == "html":
        shutil.copytree(_source(app), Path(app.outdir) / "_static" / "widgets", dirs_exist_ok=True)


def _drop_cdn_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [
            js for js in scripts if "unpkg.com" not in str(getattr(js, "attributes", {}).get("body", ""))
        ]


def setup(app):
    app.connect("builder-inited", _check)
    app.connect("html-page-context", _drop_cdn_scripts, priority=900)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
