# The two commands of the README's quick start. Both create (or reuse, when complete) .venv/.
PY := .venv/bin/python

.PHONY: setup demo test

setup:
	bash tools/setup_env.sh

demo: setup
	bash tools/run_demo.sh

test: setup
	$(PY) -m pytest tests
