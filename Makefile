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

test: setup
	$(PY) -m pytest tests
