# The two commands a newcomer needs: `make dev` and `make test`.
# Both create .venv and install what is missing on a fresh machine (Python 3.11+, make, PyPI).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: dev test test-slow chaos bench bench-load screenshots lint format install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/billing dev

# Test files run on TEST_WORKERS processes (pytest-xdist), a file's tests together on one of them (its module
# fixtures, a billing dev stack for instance, start once). TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy billing host providers workflows activities webhooks starter emulators worker.py
	$(BIN)/python -m pytest -m "not slow" -q -n $(TEST_WORKERS) --dist loadfile

# The long suites (pytest -m slow): the chaos slice and the longer chaos run, each its own stack of processes;
# load (tests/bench/test_bench_load.py).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

# The adversarial run: its own stack, provider faults, kills and restarts, invariants against the ledgers.
# Replay a run with SEED=<seed printed by the run>.
CHAOS_ARGS ?=
chaos: $(STAMP)
	$(BIN)/python scripts/chaos.py --orders 1000 --subscriptions 200 --duration 600 --settle 900 $(if $(SEED),--seed $(SEED)) $(CHAOS_ARGS)

# Benchmarks (scripts, not tests): the figures of docs/benchmarks.md, on the in-memory dev server.
bench: $(STAMP)
	$(BIN)/python scripts/bench_orders.py --orders 400 --concurrency 20 --rounds 8
	$(BIN)/python scripts/bench_subscriptions.py --subscriptions 1000
	$(BIN)/python scripts/bench_cache_floor.py --runs 1000

# Load with the workflow cache smaller than the work, and orders arriving at half the saturation rate.
bench-load: $(STAMP)
	$(BIN)/python scripts/bench_subscriptions.py --subscriptions 10000 --cache-size 1000 --timeout 2400
	$(BIN)/python scripts/bench_order_load.py --fraction 0.5 --duration 180

# The README's review-queue pictures, taken again on a temporary dev stack (headless Chromium).
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy billing host providers workflows activities webhooks starter emulators worker.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
