# The two commands that matter: `make run` and `make test` (see README.md).
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-deps lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/pbx serve --config config.yml

# Real components the suite uses: sipp, baresip, PostgreSQL 15 (installed with apt-get
# when missing; the tests start their own throw-away PostgreSQL cluster).
test-deps:
	bash scripts/install-test-deps.sh

lint: install
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install test-deps lint
	$(BIN)/pytest

bench: install test-deps
	bash scripts/install-bench-deps.sh
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
