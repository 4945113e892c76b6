# mailpipe: `make demo` and `make test` are the two commands; everything else is a step of theirs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
STACK := PYTHONPATH=deploy/local $(PY) -m mailpipe_stack
ENV_FILE := .state/stack.env
# Load the stack's addresses (written by `make up`) into the environment of a recipe line.
WITH_ENV := set -a && . $(ENV_FILE) && set +a &&

.PHONY: help install up down status logs clean demo test test-unit test-deploy image tools-deploy dashboards bench lint schemas
.DEFAULT_GOAL := help

help:
	@echo "make demo    install what is missing, start the stack, run the pipeline on a demo mailbox"
	@echo "make test    every test, against the real local stack"
	@echo "make up | down | status | logs | clean    the local stack (Kafka, PostgreSQL, S3, Dovecot, Postfix, Prometheus)"
	@echo "make bench   benchmarks (never part of make test)"
	@echo "make image   the one OCI image of every service, built daemonless (buildah), its size printed"
	@echo "make test-deploy    the image, the Helm chart and the dashboards and alerts, checked by their real tools"

# The virtualenv, rebuilt when the lock changes. uv installs the hash-pinned lock in seconds.
$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "python3.11 is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	touch $@

install: $(VENV)/.installed

up: install
	$(STACK) up

down:
	@if [ -x $(PY) ]; then $(STACK) down; else echo "nothing to stop (no virtualenv)"; fi

status: install
	$(STACK) status

logs: install
	$(STACK) logs

clean:
	@if [ -x $(PY) ]; then $(STACK) clean; fi
	rm -rf .state

demo: up
	$(WITH_ENV) $(PY) -m mailpipe.devtools.demo

# The demo's services keep running for exploration; they would consume the tests' mail too.
test: up
	$(STACK) stop-services
	$(WITH_ENV) $(PY) -m pytest tests

# The deploy artifacts, each checked by the tool that consumes it (also part of `make test`, which
# runs all of tests/). The first run builds the pinned tools (helm, controller-gen, kubeconform,
# kube-apiserver, etcd, kubectl) and the image's Debian base once, into ~/.cache/mailpipe.
test-deploy: up tools-deploy
	$(STACK) stop-services
	$(WITH_ENV) $(PY) -m pytest tests/deploy -q

tools-deploy: install
	deploy/tools/build-tools.sh all
	deploy/k8s/build.sh

image: install
	deploy/image/build.sh

# Regenerate the committed dashboards JSON from deploy/observability/dashboards.py.
dashboards: install
	deploy/observability/tools/venv.sh >/dev/null
	$(HOME)/.cache/mailpipe/venv-deploy/bin/python deploy/observability/dashboards.py

test-unit: install
	$(PY) -m pytest tests/unit tests/contract -m "not kafka and not postgres and not s3 and not imap"

schemas: install
	$(PY) -m mailpipe schemas export

lint: install
	$(VENV)/bin/ruff check services tests deploy bench
	$(VENV)/bin/mypy services

bench: up
	@ls bench/*.py >/dev/null 2>&1 || { echo "no benchmarks yet"; exit 0; }
	$(WITH_ENV) for b in bench/[!_]*.py; do $(PY) $$b || exit 1; done
