# abusenet: `make demo` runs the whole job on generated data; `make test` runs the tests.
# Both create or reuse .venv, install the project, and install a local Neo4j from Maven Central.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export ABUSENET_HOME ?= $(CURDIR)/.abusenet
NEO4J_HOME := $(ABUSENET_HOME)/neo4j
PYTEST_ARGS ?=

.PHONY: demo test test-all bench lint venv neo4j neo4j-start neo4j-stop browser clean

## venv: create .venv and install abusenet with its dependencies (reused while pyproject.toml is unchanged)
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

## neo4j: download the pinned Neo4j jars (once) and configure the local server
neo4j: $(NEO4J_HOME)/server.json

$(NEO4J_HOME)/server.json: | $(VENV)/.installed
	$(BIN)/abusenet neo4j install

neo4j-start: neo4j
	@$(BIN)/abusenet neo4j status >/dev/null 2>&1 || $(BIN)/abusenet neo4j start

neo4j-stop:
	$(BIN)/abusenet neo4j stop

## test: everything but the slow benchmarks-sized tests, on a real Neo4j the tests start themselves
test: venv neo4j
	@rc=0; $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

## test-all: the slow tests too
test-all: venv neo4j
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## demo: start the local Neo4j, generate a dataset and run the whole job with write-back
demo: venv neo4j-start
	$(BIN)/abusenet neo4j status

## bench: the benchmark scripts (minutes to hours; see benchmarks/README.md)
bench: venv neo4j
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/detect.py
	$(BIN)/python benchmarks/neo4j_load.py

lint: venv
	$(BIN)/ruff check .

clean:
	-$(BIN)/abusenet neo4j stop
	rm -rf $(ABUSENET_HOME) out
