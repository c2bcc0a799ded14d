# The two commands that matter: `make run` and `make test` (see README.md).
VENV   ?= .venv
# The interpreter the venv is made from: PYTHON=... to choose; by default the
# distribution's optimised build when there is one (scripts/pick-python.sh says why).
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell bash scripts/pick-python.sh)
endif
BIN    := $(VENV)/bin
# Named after the interpreter: another one means a new venv (scripts/venv-check.sh).
PY_ID  := $(shell $(PYTHON) -c 'import sys, zlib; print("%08x" % zlib.crc32((sys.base_prefix + sys.version).encode()))')
STAMP  := $(VENV)/.installed-$(PY_ID)
# The per-packet code compiled with mypyc (src/pbx/__init__.py says why).
CORE_STAMP := $(VENV)/.core-stamp
CORE_SRC   := $(addprefix src/,$(shell grep -v '^\s*\(\#\|$$\)' scripts/compiled-modules.txt))

.PHONY: install lock core clean-core run test test-deps lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	VENV=$(VENV) PYTHON=$(PYTHON) bash scripts/venv-check.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The versions the suite passed with, from the current venv (constraints.txt says why).
lock: install
	{ sed -n '/^#/p' constraints.txt; $(BIN)/pip freeze --exclude-editable; } > constraints.tmp
	mv constraints.tmp constraints.txt

core: $(CORE_STAMP)

$(CORE_STAMP): $(STAMP) $(CORE_SRC) scripts/compile-core.sh scripts/compiled-modules.txt
	VENV=$(VENV) bash scripts/compile-core.sh
	touch $(CORE_STAMP)

clean-core:
	find src -name '*.so' -delete
	rm -f $(CORE_STAMP)

run: install core
	$(BIN)/pbx serve --config config.yml

# Real components the suite uses: sipp, baresip, PostgreSQL 15 (installed with apt-get
# when missing; the tests start their own throw-away PostgreSQL cluster).
test-deps:
	bash scripts/install-test-deps.sh

lint: install
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# PBX_REQUIRE_COMPILED_CORE: tests/test_compiled_modules.py fails unless the suite
# runs the compiled modules, the ones `make run` serves with.
test: install core test-deps lint
	PBX_REQUIRE_COMPILED_CORE=1 $(BIN)/pytest

bench: install core test-deps
	bash scripts/install-bench-deps.sh
	$(BIN)/python -m bench.run

clean: clean-core
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
