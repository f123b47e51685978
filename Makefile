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

test: $(VENV)/.installed-dev  ## install and run the whole test suite
	$(BIN)/python -m pytest

test-only:  ## run the test suite without (re)installing
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev  ## ruff (lint and format), mypy, import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.installed-dev  ## benchmarks (print figures and ratios)
	$(BIN)/python bench/kb_accuracy.py
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/fidelity.py
	$(BIN)/python bench/console.py

VOICE_SDK ?= 2.18.5
vendor:  ## refetch Twilio's Voice JS SDK from npm into web/static/vendor (needs npm)
	rm -rf .vendor && mkdir -p .vendor
	cd .vendor && npm pack --silent @twilio/voice-sdk@$(VOICE_SDK) && tar xzf twilio-voice-sdk-$(VOICE_SDK).tgz
	cp .vendor/package/dist/twilio.min.js web/static/vendor/twilio-voice-sdk.min.js
	cp .vendor/package/LICENSE.md web/static/vendor/twilio-voice-sdk.LICENSE.md
	rm -rf .vendor

clean:  ## remove the virtualenv and the instance folder
	rm -rf $(VENV) instance
