# `make demo` and `make test` each set up .venv on a machine that has only
# Python 3.11+ and make, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?=
# Each dataset gets its own store, so the generated demo and real data never mix.
DEMO_DIR ?= tastemaker-data/$(if $(DATA),$(notdir $(abspath $(DATA))),demo)

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tastemaker --data-dir $(DEMO_DIR) demo $(if $(DATA),--mpd $(DATA),)

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) tastemaker-data
