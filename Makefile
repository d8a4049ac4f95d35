# mentorflow: `make run` starts everything on this machine; nothing is downloaded at run time.
PYTHON ?= python3
VENV := .venv

.PHONY: install run test lint test-nocache bench

# Created once; `make install` refreshes it after dependencies change.
$(VENV)/bin/mentorflow:
	$(MAKE) install

install:
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev]'

run: | $(VENV)/bin/mentorflow
	$(VENV)/bin/mentorflow up

# The whole suite: lint and types, every test, then the workflow tests again with the
# workflow cache off so every task replays (catches replay-only nondeterminism).
test: lint | $(VENV)/bin/mentorflow
	$(VENV)/bin/pytest -q
	$(MAKE) test-nocache

lint: | $(VENV)/bin/mentorflow
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-nocache: | $(VENV)/bin/mentorflow
	MENTORFLOW_TEST_NO_CACHE=1 $(VENV)/bin/pytest -q tests/test_workflow_paths.py \
		tests/test_workflow_year.py tests/test_workflow_continue_as_new.py

# Every benchmark against its baseline on this machine (about 23 minutes on
# 2 cores); `make bench BENCH_ARGS=--quick` for a few minutes, `--only NAME` for one.
bench: | $(VENV)/bin/mentorflow
	$(VENV)/bin/python -m bench.run $(BENCH_ARGS)
