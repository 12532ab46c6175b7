# st_jax: `make demo` and `make test` on a fresh clone; both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= synth,dev,serve
DEMO_DIR ?= demo
DEMO_SIZE ?= 2000
DEMO_STEPS ?= 1500

.PHONY: install demo test test-fast bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

demo: install
	$(BIN)/python -m st_jax.demo --workdir $(DEMO_DIR) --size $(DEMO_SIZE) --train-steps $(DEMO_STEPS)

test: install
	$(BIN)/pytest -q -n 2 --dist loadgroup --durations=40

test-fast: install
	$(BIN)/pytest -q -n 2 --dist loadgroup -m "not slow"

# Benchmarks against the PyTorch peers (adds the [parity] and [bench] extras): about 30 minutes
# on 2 cores; writes bench/results/*.json, PNG plots and BENCHMARKS.md.
bench: install
	$(BIN)/pip install --quiet -e '.[$(EXTRAS),parity,bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
