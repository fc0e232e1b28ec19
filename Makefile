# The two commands a new user needs: `make` (set up, regenerate, summarise) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all kernels check test lint bench clean

all: kernels

# Create the virtual environment and install symcell with its test extra (re-run when pyproject changes).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

kernels: $(STAMP)
	$(BIN)/symcell generate

check: $(STAMP)
	$(BIN)/symcell check

test: $(STAMP)
	$(BIN)/python -m pytest

# Side-by-side timings (PyTorch, symcell, the BLAS bound); writes bench/results.md and .json.
bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
