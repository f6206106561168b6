# Two commands for a new user: `make demo` and `make test`.
# Both run `make install` first; it is idempotent (a stamp check when up to date).
VENV ?= .venv
PY := $(VENV)/bin/python
TOY := data/toy

.PHONY: install test test-fast demo toy-data

install:
	bash tools/install.sh

test: install
	$(PY) -m pytest tests

# Everything except the end-to-end tests marked slow.
test-fast: install
	$(PY) -m pytest tests -m "not slow"

toy-data: install
	$(PY) tools/dataset_converters/make_toy_dataset.py $(TOY)

demo: toy-data
	$(PY) tools/demo.py --data-root $(TOY)
