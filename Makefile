# The two quick-start commands: `make demo` and `make test`. Both create the venv when missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
SSA_BENCH := $(VENV)/bin/ssa-bench

.PHONY: demo test test-fast system-deps clean-venv

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# The CPU wheel of torch first: a dependency asking for plain `torch` must find it satisfied,
	# or pip would fetch a multi-GB CUDA build. On a GPU cluster install your CUDA torch here instead.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	touch $@

# Train and evaluate Table 3's seven runs on the embedded demo data (CPU, about 10 min on 2 cores), print the table.
demo: $(VENV)/.installed
	$(SSA_BENCH) run tables/table3.yaml --profile cpu-demo

# Debian packages the tests need (SLURM + accounting, LaTeX); a no-op when present.
system-deps:
	bash ci/install-system-deps.sh

# The whole suite, in two phases. The tests that compute run on every core (pytest-xdist, one torch
# thread per worker); then the SLURM tests run one at a time on the local single-node cluster,
# alone: their requeue and preemption schedules assume the node's CPUs are theirs. Both phases
# always run; each phase's summary is printed again after down.sh's lines, so that they stay last.
# The test cluster keeps to itself (slurm/up.sh): everything under $SSA_SLURM_DIR, reached through
# SLURM_CONF, so neither up.sh nor the tests touch a SLURM this machine may have.
test: export SLURM_CONF = $(or $(SSA_SLURM_DIR),/tmp/ssa-bench-slurm)/etc/slurm.conf
test: $(VENV)/.installed system-deps
	bash slurm/up.sh
	status=0; \
	  $(PY) -m pytest -q -ra -n auto --dist worksteal -m "not slurm" 2>&1 | tee .pytest.log; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || status=1; \
	  $(PY) -m pytest -q -ra -m slurm 2>&1 | tee .pytest-slurm.log; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || status=1; \
	  bash slurm/down.sh; \
	  echo "tests that compute: $$(tail -n 1 .pytest.log)"; \
	  echo "SLURM tests:        $$(tail -n 1 .pytest-slurm.log)"; \
	  exit $$status

# Everything but SLURM, LaTeX and slow training, for a quick loop while editing.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -n auto --dist worksteal -m "not slurm and not slow and not latex"

clean-venv:
	rm -rf $(VENV)
