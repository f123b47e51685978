# hotline — `make` lists the targets. Everything installs into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

.DEFAULT_GOAL := help
.PHONY: help run test test-only lint bench clean vendor

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run  ## install and run the hotline (embedded Redis + SQLite + carrier simulator)
	$(BIN)/hotline run

# Test modules run on two workers (pytest-xdist, a module per worker at a
# time: a module's stack and its calls stay together). Most of a module's
# time is spent waiting on simulated calls, so two halve the wall time even
# on one core. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test: $(VENV)/.installed-dev  ## install and run the whole test suite
	$(PYTEST) $(PYTEST_ARGS)

test-only:  ## run the test suite without (re)installing
	$(PYTEST) $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev  ## ruff (lint and format), mypy, import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Every bench runs even after one misses a target; make fails at the end
# naming those that did. `bench/performance.py` holds the list and rewrites
# docs/PERFORMANCE.md from the figures they print.
bench: $(VENV)/.installed-dev  ## benchmarks (print figures and ratios, rewrite docs/PERFORMANCE.md)
	$(BIN)/python bench/performance.py $(BENCH_ARGS)

VOICE_SDK ?= 2.18.5
UPLOT ?= 1.6.31
vendor:  ## refetch Twilio's Voice JS SDK and uPlot from npm into web/static/vendor (needs npm)
	rm -rf .vendor && mkdir -p .vendor
	cd .vendor && npm pack --silent @twilio/voice-sdk@$(VOICE_SDK) && tar xzf twilio-voice-sdk-$(VOICE_SDK).tgz
	cp .vendor/package/dist/twilio.min.js web/static/vendor/twilio-voice-sdk.min.js
	cp .vendor/package/LICENSE.md web/static/vendor/twilio-voice-sdk.LICENSE.md
	rm -rf .vendor/package
	cd .vendor && npm pack --silent uplot@$(UPLOT) && tar xzf uplot-$(UPLOT).tgz
	cp .vendor/package/dist/uPlot.iife.min.js web/static/vendor/uplot.iife.min.js
	cp .vendor/package/dist/uPlot.min.css web/static/vendor/uplot.min.css
	cp .vendor/package/LICENSE web/static/vendor/uplot.LICENSE
	rm -rf .vendor

clean:  ## remove the virtualenv and the instance folder
	rm -rf $(VENV) instance
