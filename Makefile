# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")

.PHONY: demo test lint bench install install-node services help

help:
	@echo "make demo   - run the whole stack (provider, resource API, BFF, demo SPA) on loopback"
	@echo "make test   - install what is needed and run every test"
	@echo "make lint   - ruff and mypy (strict on shared/)"
	@echo "make bench  - run the benchmarks under bench/"

# uv from PyPI when it is missing (never a downloaded binary)
$(UV):
	python3 -m pip install --user --quiet uv

install: $(UV)
	$(UV) sync --frozen

install-node:
	@if [ -f infra/oidc-provider/package-lock.json ]; then \
		cd infra/oidc-provider && npm ci --no-audit --no-fund --loglevel=error; \
	fi

# PostgreSQL, Redis and chromium from Debian when missing, started with the access the tests use
services:
	bash .ci/services.sh

test: install install-node services
	$(UV) run pytest $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

bench: install install-node
	@for b in bench/*.py; do echo "== $$b"; $(UV) run python $$b || exit 1; done

demo: install install-node
	$(UV) run python infra/demo.py
