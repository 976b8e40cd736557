#!/usr/bin/env bash
# Print the whole book as one PDF: the single-page HTML build of the stored (nbval-verified) outputs,
# printed by headless Chromium once MathJax has typeset the math. Usage: tools/pdf.sh OUT.pdf
set -euo pipefail
out="${1:-_build/rnncourse.pdf}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mkdir -p _build
sed -e 's/execute_notebooks: force/execute_notebooks: "off"/' \
    -e "s|offline_widgets: book/_ext|offline_widgets: $root/book/_ext|" _config.yml > _build/config-pdf.yml
.venv/bin/jupyter-book build . -W --keep-going --all --builder singlehtml --config _build/config-pdf.yml \
  --path-output _build/pdf >_build/pdf-build.log 2>&1 || { tail -30 _build/pdf-build.log; exit 1; }
site=_build/pdf/_build/singlehtml
# The single page is written as book/intro.html but its links are relative to the site root: print a copy
# at the root, with page breaks kept out of code cells and figures, and the navigation hidden.
sed -e 's|</head>|<style>@media print { div.cell, div.highlight, figure, img { break-inside: avoid; } '\
'pre { white-space: pre-wrap !important; word-break: break-all; } .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header, .bd-footer, .header-article { display: none !important; } }'\
'</style></head>|' "$site/book/intro.html" > "$site/print.html"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome)"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --no-pdf-header-footer \
  --virtual-time-budget=60000 --run-all-compositor-stages-before-draw \
  --print-to-pdf="$out" "file://$root/$site/print.html" >/dev/null 2>&1
pages=$(.venv/bin/python -c "import re,sys; print(len(re.findall(rb'/Type\s*/Page[^s]', open(sys.argv[1],'rb').read())))" "$out")
echo "The book is at $out ($pages pages)"
