# Two commands for a new user: `make demo` and `make test`.
# Both run `make install` first; it is idempotent (a stamp check when up to date).
VENV ?= .venv
PY := $(VENV)/bin/python
TOY := data/toy

.PHONY: install test test-fast demo toy-data

install:
	bash tools/install.sh

# pytest-xdist workers, one torch thread each (tests/conftest.py); the suite
# is mostly single-threaded, so 2 workers use both cores of a small machine.
TEST_WORKERS ?= 2

test: install
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist worksteal

# Everything except the end-to-end tests marked slow.
test-fast: install
	$(PY) -m pytest tests -m "not slow" -n $(TEST_WORKERS) --dist worksteal

toy-data: install
	$(PY) tools/dataset_converters/make_toy_dataset.py $(TOY)

demo: toy-data
	$(PY) tools/demo.py --data-root $(TOY)
