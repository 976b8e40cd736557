#!/usr/bin/env bash
# Check the system prerequisites before anything is installed or built, and name the fix for each one missing.
# Usage: tools/prereqs.sh [book|test|pdf]   (test and pdf also need Chromium)
set -uo pipefail
target="${1:-book}"
python="${PYTHON:-python3}"
missing=0

say() { printf '%s\n' "$*" >&2; }
need() {  # need WHAT DEBIAN_FIX MACOS_FIX
  say "make $target: missing prerequisite: $1"
  say "  Debian/Ubuntu: $2"
  say "  macOS:         $3"
  missing=1
}

if ! command -v "$python" >/dev/null 2>&1; then
  need "Python 3.11 ($python not found)" "sudo apt-get install python3.11 python3.11-venv" "brew install python@3.11"
elif ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  need "Python 3.11 ($python is $("$python" -c 'import platform; print(platform.python_version())'); \
pass PYTHON=python3.11 to make if it is installed under that name)" \
    "sudo apt-get install python3.11 python3.11-venv" "brew install python@3.11"
elif ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  need "the venv module of $python" "sudo apt-get install python3.11-venv" "brew reinstall python@3.11"
fi
if ! command -v npm >/dev/null 2>&1; then
  need "npm (fetches the widget JavaScript of the offline book at install time)" \
    "sudo apt-get install npm" "brew install node"
fi
if [ "$target" != "book" ]; then
  if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
     && ! command -v google-chrome >/dev/null 2>&1; then
    need "Chromium (headless browser for the checks of the built book and for the PDF)" \
      "sudo apt-get update && sudo apt-get install chromium" "brew install --cask chromium"
  fi
fi
if [ "$missing" -ne 0 ]; then
  say "Nothing was installed or built. Install what is listed above and run make $target again."
  exit 1
fi
