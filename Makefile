# mentorflow: `make run` starts everything on this machine; nothing is downloaded at run time.
PYTHON ?= python3
VENV := .venv

.PHONY: install run test

# Created once; `make install` refreshes it after dependencies change.
$(VENV)/bin/mentorflow:
	$(MAKE) install

install:
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev]'

run: | $(VENV)/bin/mentorflow
	$(VENV)/bin/mentorflow up

test: | $(VENV)/bin/mentorflow
	$(VENV)/bin/pytest -q
