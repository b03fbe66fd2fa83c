# geofm: `make demo` sets everything up and fine-tunes on the generated demo dataset;
# `make test` sets everything up and runs the whole test suite.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.geofm-installed
PLUGINS := plugins/geofm-prithvi plugins/geofm-clay plugins/decoders plugins/datasets plugins/geofm-terramind plugins/geofm-dofa plugins/geofm-detection
# the mission command, kept to a few minutes on 2 CPU cores: one epoch over the 32 training scenes
DEMO_ARGS ?= --backbone prithvi_eo_v2_300 --decoder upernet --max-epochs 1

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install -q -e ".[dev,tune,lora]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/geofm run $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/cli_latency.py

clean:
	rm -rf $(VENV) build runs .pytest_cache .ruff_cache
