# kcv — every target sets up what it needs (a virtual environment in .venv).
#   make book     the course book: executes the chapters (cached), builds the HTML
#   make test     ruff, then the whole test suite, once per backend (and the book, in a browser)
#   make lint     ruff check + ruff format --check (make format fixes what it can)
#   make lab      JupyterLab on notebooks/ (works as root too)
#   make bench    the benchmarks, side by side with native PyTorch
# BACKEND=jax|tensorflow|torch picks the Keras backend of book / lab.

PYTHON  ?= python3
VENV    ?= .venv
BACKEND ?= jax
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.kcv-installed

.PHONY: setup system book lab test lint format bench clean

setup: $(STAMP)

# Re-installs whenever pyproject.toml or the pins change: the versions of
# constraints/cpu.txt, the ones CI tests (see README, "Installing"). The pip
# configuration of the machine decides where wheels come from.
$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints/cpu.txt -e '.[all,book,dev]'
	touch $@

# The book's browser test needs Debian's chromium, the grader's jail its
# bubblewrap (each installed when missing); the Gradescope script's test runs
# this environment's Python as an unprivileged user.
system:
	sh tools/install_system.sh $(BIN)/python

book: setup
	KERAS_BACKEND=$(BACKEND) $(BIN)/python tools/build_book.py

lab: setup
	KERAS_BACKEND=$(BACKEND) $(BIN)/jupyter lab --notebook-dir=notebooks \
	    $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

test: setup system lint
	$(BIN)/python tools/run_tests.py --require-all

# ruff's lint rules and formatting (pyproject.toml, [tool.ruff]); `make format` fixes both.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python -m kcv bench

clean:
	rm -rf build test-results
