# The two commands of a fresh machine (and CI). Both create (or reuse, when complete) .venv/.
PY := .venv/bin/python

.PHONY: setup demo test

setup:
	bash tools/setup_env.sh

# The demo runs on the CPU: a new .venv gets mmcv's CPU ops only, a complete one is kept as it
# is (also a CUDA build).
demo:
	MMSEQ_CUDA=$${MMSEQ_CUDA:-installed} bash tools/setup_env.sh
	bash tools/run_demo.sh

# One worker per core (TEST_JOBS=1: one process); each worker takes whole files, so a file's
# shared fixtures are built once.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 1)

test: setup
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder tests
