# Two commands: `make run` brings the embedded platform up, `make test` runs the suite.
# Both install from the committed lock files into .venv in the checkout.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8
# Installers cache under ~ by default; keep their caches with the platform's state.
CACHE := $(or $(ZHIJIAN_HOME),.zhijian)/cache
export UV_CACHE_DIR ?= $(CACHE)/uv
export npm_config_cache ?= $(CACHE)/npm

.PHONY: run test lint typecheck proto proto-check proto-lint lock bench eval clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-cache-dir uv==$(UV_VERSION)

# `uv pip install -r` (not `sync`): sync would remove uv itself from the venv.
$(VENV)/.runtime: requirements.lock pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(PY) -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock $(VENV)/.runtime
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.lock
	touch $@

node_modules/.bin/buf: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(VENV)/.runtime
	$(VENV)/bin/zhijian up

test: $(VENV)/.dev node_modules/.bin/buf lint typecheck
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy

proto: $(VENV)/.dev
	$(PY) scripts/gen_proto.py

proto-check: $(VENV)/.dev
	$(PY) scripts/gen_proto.py --check

proto-lint: node_modules/.bin/buf
	sh scripts/lint_proto.sh

bench: $(VENV)/.runtime
	$(VENV)/bin/zhijian bench classify
	$(PY) -m bench dlp

eval: $(VENV)/.runtime
	$(VENV)/bin/zhijian eval classify

.PHONY: load bench-gateway

# Locust, headless, against the platform `make run` started (same ZHIJIAN_HOME and ports):
# reports in load/report/, fails if a user class made < 200 requests or a status was
# unexpected. See load/README.md.
load: $(VENV)/.dev
	$(PY) -m load

# Fuzz every service through the gateways on a throwaway platform it starts and stops
# itself (fuzz/README.md): >= 100,000 calls per service; fails on INTERNAL/UNKNOWN or a
# platform process that died or restarted. Report in fuzz/report/. FUZZ_ARGS passes
# options, e.g. FUZZ_ARGS="--calls-per-service 5000 --keep-home".
.PHONY: fuzz
fuzz: $(VENV)/.dev
	$(PY) -m fuzz $(FUZZ_ARGS)

# What the gateway adds over a bare gRPC hop (one run on this machine; not a test).
bench-gateway: $(VENV)/.runtime
	$(PY) -m bench gateway

# Regenerate the lock files after changing pyproject.toml.
lock: | $(UV)
	$(UV) pip compile pyproject.toml --python-version 3.11 --quiet -o requirements.lock
	$(UV) pip compile pyproject.toml --python-version 3.11 --extra dev --quiet -o requirements-dev.lock

clean:
	rm -rf $(VENV) node_modules .zhijian .pytest_cache .mypy_cache .ruff_cache
