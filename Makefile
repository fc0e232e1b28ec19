# The two commands a new user needs: `make` (set up, regenerate, summarise) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PDFLATEX   ?= pdflatex
BIBTEX     ?= bibtex
LATEX_HINT := Install it with: apt-get update && apt-get install -y texlive-latex-base texlive-latex-recommended

.PHONY: all kernels c-libs check test lint bench clean paper latex-deps fuzz

all: kernels c-libs

# Create the virtual environment and install symcell with its test extra (re-run when pyproject changes).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plot,blas]'
	touch $(STAMP)

kernels: $(STAMP)
	$(BIN)/symcell generate

# Compile (or find in .cache/symcell) every cell's C library, float64 and float32; needs a C compiler.
c-libs: kernels
	$(BIN)/symcell build-c

check: $(STAMP)
	$(BIN)/symcell check

test: $(STAMP) latex-deps
	$(BIN)/python -m pytest

# A long run of the cell fuzzer (tests/fuzz_cells.py): FUZZ_CELLS random cells, a fresh seed unless FUZZ_SEED is
# given; it prints the seed, and the spec and error of every cell that fails. (make test runs 30, derandomized.)
FUZZ_CELLS ?= 300
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz_cells --cells $(FUZZ_CELLS) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

# Derivations for papers: generated/latex/derivations.tex compiled with pdflatex, bibtex (the bibliography is
# written by the document itself, from a filecontents block), pdflatex twice (citations, cross-references) into
# generated/latex/derivations.pdf; aux files stay in build/paper. The PDF is a build product, not committed.
# pdflatex for the LaTeX tests and the paper: installed from Debian's packages when missing and we may
# (root with apt-get, as on CI and these machines); otherwise a hint, and the LaTeX tests will fail.
latex-deps:
	@command -v $(PDFLATEX) >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing pdflatex (texlive-latex-base, texlive-latex-recommended)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      texlive-latex-base texlive-latex-recommended >/dev/null; \
	  else echo "make: $(PDFLATEX) not found, so the LaTeX tests will FAIL. $(LATEX_HINT)"; fi; }

paper: kernels figures latex-deps
	@command -v $(PDFLATEX) >/dev/null || { echo "make paper: $(PDFLATEX) not found. $(LATEX_HINT)"; exit 1; }
	@mkdir -p build/paper
	@for pass in 1 bib 2 3; do \
	  if [ $$pass = bib ]; then (cd build/paper && $(BIBTEX) -terse derivations) || exit 1; continue; fi; \
	  SOURCE_DATE_EPOCH=0 FORCE_SOURCE_DATE=1 $(PDFLATEX) -interaction=nonstopmode \
	  -halt-on-error -output-directory=build/paper generated/latex/derivations.tex >/dev/null \
	  || { tail -n 30 build/paper/derivations.log; exit 1; }; done
	cp build/paper/derivations.pdf generated/latex/derivations.pdf
	@grep -c "Overfull" build/paper/derivations.log | sed 's/^/make paper: overfull boxes: /' || true

# Side-by-side timings (PyTorch, symcell, the BLAS bound); writes bench/results.md and .json.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# Gradient-flow figures (PNG, PDF) into generated/figures/, the factor table printed and written to
# generated/latex/gradflow.tex. One BLAS thread: the matrices are small and threads only contend.
.PHONY: figures
figures: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m symcell.analysis.figures

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info .cache/symcell .cache/build
