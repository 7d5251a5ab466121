# abusenet: `make demo` runs the whole job on generated data; `make test` runs the tests.
# Both create or reuse .venv, install the project, and install a local Neo4j from Maven Central.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export ABUSENET_HOME ?= $(CURDIR)/.abusenet
NEO4J_HOME := $(ABUSENET_HOME)/neo4j
PYTEST_ARGS ?= --durations=20
# make test's pytest-xdist workers: the suite is mostly one busy core at a time (a test waits on
# Neo4j, a service or Spark), so two workers keep both cores of a small machine busy; 0: one process
TEST_WORKERS ?= 2

.PHONY: demo test test-all bench lint lock venv neo4j neo4j-start neo4j-stop browser clean

## venv: create .venv and install abusenet with the versions pinned in constraints.txt
## (reused while pyproject.toml and constraints.txt are unchanged). uv installs them: it links the
## ~7 GB of wheels (torch's CUDA build) from its cache where pip unpacked every one again, and
## compiles the bytecode on every core (the environment may forbid writing it at import time).
UV_VERSION := 0.13.8
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode \
	  -c constraints.txt -e ".[dev,spark,bench]"
	@touch $@

## lock: refresh constraints.txt to the newest versions pyproject.toml allows, and install them
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev,spark,bench]"
	@{ sed -n '/^#/p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v -e '^#' -e '^uv=='; } \
	  > constraints.txt.new && mv constraints.txt.new constraints.txt
	@touch $(VENV)/.installed
	@echo "constraints.txt refreshed: run make test, then commit it"

## neo4j: download the pinned Neo4j jars (once) and configure the local server
neo4j: $(NEO4J_HOME)/server.json

$(NEO4J_HOME)/server.json: | $(VENV)/.installed
	$(BIN)/abusenet neo4j install

neo4j-start: neo4j
	@$(BIN)/abusenet neo4j status >/dev/null 2>&1 || $(BIN)/abusenet neo4j start

neo4j-stop:
	$(BIN)/abusenet neo4j stop

## test: everything but the slow benchmarks-sized tests, on a real Neo4j the tests start themselves
test: venv neo4j browser
	@rc=0; $(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

## test-all: the slow tests too, on the same workers
test-all: venv neo4j browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

## demo: start the local Neo4j, generate a dataset and run the whole job with write-back
demo: venv neo4j-start
	@start=$$(date +%s); \
	out=$${DEMO_OUT:-out/demo}; accounts=$${DEMO_ACCOUNTS:-10000}; \
	$(BIN)/abusenet synth --out $$out/data --accounts $$accounts --seed 0 --force --no-progress && \
	$(BIN)/abusenet run --input $$out/data/events --mapping configs/mappings/synth.yaml \
	  --labels $$out/data/labels.csv --config configs/demo.yaml --out $$out/run \
	  --neo4j-uri local --quiet && \
	browser=$$($(BIN)/abusenet neo4j status | sed -n 's/^ *browser: *//p') && \
	echo && echo "Demo done in $$(( $$(date +%s) - start )) s. Now open:" && \
	echo "  the report:     $(CURDIR)/$$out/run/report.html" && \
	echo "  Neo4j Browser:  $$browser  (user neo4j, password in $(NEO4J_HOME)/password)" && \
	echo "and paste this query into Neo4j Browser to see the top ring with its shared entities:" && \
	$(BIN)/python -c "from abusenet.report.html import TOP_RING_QUERY; print(TOP_RING_QUERY)" \
	  | sed 's/^/  /' && \
	echo "Stop the server with 'make neo4j-stop'."

## browser: headless Chromium and its driver from apt, for the report's browser test
browser:
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium chromium-driver; }

## bench: the benchmark scripts (an hour or more; see benchmarks/README.md)
bench: venv neo4j
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.detect
	$(BIN)/python -m benchmarks.neo4j_load
	$(BIN)/python -m benchmarks.run --accounts 100000 1000000

lint: venv
	$(BIN)/ruff check .

clean:
	-$(BIN)/abusenet neo4j stop
	rm -rf $(ABUSENET_HOME) out
