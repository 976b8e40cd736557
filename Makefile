# rnncourse: `make book` builds the HTML book, `make test` runs every check. Both set up .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Notebook kernels must use the inline backend: with MPLBACKEND=Agg inherited, plt.show() draws nothing.
unexport MPLBACKEND

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WIDGETS_JS := $(VENV)/share/rnncourse-widgets
NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=300 --nbval-sanitize-with book/sanitize.cfg -p no:cacheprovider
CHAPTERS := $(sort $(wildcard book/*.ipynb))
SOLUTIONS := $(sort $(wildcard solutions/*.ipynb))
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help venv book test lint unit mutations nbval exercises html browser bench bench-notebooks clean prereqs-book prereqs-test pdf

help:
	@echo "make book   - set up .venv, execute every chapter and build the HTML book (_build/html/index.html)"
	@echo "make test   - set up .venv and run every check (lint, unit tests, nbval, exercises, book, browser)"
	@echo "make exercises - regenerate the student notebooks in exercises/ from solutions/"
	@echo "make pdf    - print the whole book as one PDF (_build/rnncourse.pdf)"
	@echo "make bench  - run the benchmarks and write benchmarks/results/ (make bench-notebooks: notebook times)"

# The environment is rebuilt whenever requirements.txt or pyproject.toml differ from what was installed.
venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	@if [ -f $(STAMP) ] && cmp -s requirements.txt $(STAMP); then touch $(STAMP); exit 0; fi; \
	echo "==> creating $(VENV) from requirements.txt"; \
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --upgrade pip; \
	$(BIN)/python -m pip install --quiet -r requirements.txt; \
	$(BIN)/python -m pip install --quiet --no-deps -e .; \
	$(BIN)/python -m pip check; \
	$(MAKE) --no-print-directory widgets-js; \
	cp requirements.txt $(STAMP)

# ipywidgets' JavaScript for the offline book, from the npm registry (install time only).
.PHONY: widgets-js
widgets-js:
	@rm -rf $(WIDGETS_JS) $(VENV)/share/npm-tmp && mkdir -p $(WIDGETS_JS) $(VENV)/share/npm-tmp
	@cd $(VENV)/share/npm-tmp && npm pack --silent @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.7 >/dev/null \
	  && tar xzf jupyter-widgets-html-manager-1.0.6.tgz && mv package html-manager \
	  && tar xzf requirejs-2.3.7.tgz && mv package requirejs
	@cp $(VENV)/share/npm-tmp/requirejs/require.js $(WIDGETS_JS)/
	@cd $(VENV)/share/npm-tmp/html-manager/dist && cp embed-amd.js *.woff *.woff2 *.ttf *.eot *.svg $(CURDIR)/$(WIDGETS_JS)/
	@rm -rf $(VENV)/share/npm-tmp

# System prerequisites are checked first, in seconds, with the command that installs what is missing.
prereqs-book prereqs-test prereqs-pdf:
	@PYTHON=$(PYTHON) tools/prereqs.sh $(@:prereqs-%=%)
	@if [ "$@" = prereqs-test ] && ! command -v bwrap >/dev/null 2>&1; then \
	  echo "make test: missing prerequisite: bubblewrap (the sandbox of every graded submission)" >&2; \
	  echo "  Debian/Ubuntu: sudo apt-get install bubblewrap   (.ci/run installs it)" >&2; exit 1; fi

book: prereqs-book venv
	$(BIN)/jupyter-book build . -W --keep-going --all
	@echo "The book is at $(CURDIR)/_build/html/index.html"

lint: venv
	$(BIN)/ruff check src tests benchmarks tools book/_ext

unit: venv
	$(BIN)/pytest tests --ignore=tests/html -p no:cacheprovider -q

nbval: venv
	$(BIN)/pytest $(NBVAL) -q $(CHAPTERS) $(SOLUTIONS)

exercises: venv
	$(BIN)/python tools/exercises.py build

# Every typical wrong answer listed in solutions/mutations/ must fail the tests it targets (prints the table).
mutations: venv
	$(BIN)/python tools/mutations.py

# Render the outputs that strict nbval has just verified (no second execution), then check the pages.
html: venv
	@mkdir -p _build
	@sed -e 's/execute_notebooks: force/execute_notebooks: "off"/' \
	     -e 's|offline_widgets: book/_ext|offline_widgets: $(CURDIR)/book/_ext|' _config.yml > _build/config-render.yml
	$(BIN)/jupyter-book build . -W --keep-going --all --config _build/config-render.yml

# The whole book as one PDF (the stored outputs printed by headless Chromium): _build/rnncourse.pdf
pdf: prereqs-pdf venv
	tools/pdf.sh _build/rnncourse.pdf

browser: venv
	$(BIN)/pytest tests/html -p no:cacheprovider -q

test: prereqs-test venv
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory mutations
	$(MAKE) --no-print-directory nbval
	$(MAKE) --no-print-directory html
	$(MAKE) --no-print-directory browser
	@echo "make test: all checks passed"

bench: venv
	$(BIN)/python -m benchmarks.run

# Execution time of every chapter and solution notebook (B5); separate because it takes about 4 minutes.
bench-notebooks: venv
	$(BIN)/python -m benchmarks.notebooks

clean:
	rm -rf _build
