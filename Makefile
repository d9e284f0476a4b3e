# onebox: `make run` starts it, `make test` runs the whole suite. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages onebox's data planes and tests use; only missing ones are installed.
APT_PACKAGES := python3-venv iproute2 procps curl bind9-dnsutils nftables util-linux \
	postgresql mariadb-server mariadb-client mariadb-backup haproxy \
	php-cli php-fpm php-mysql php-pgsql php-redis php-curl
BENCH_APT_PACKAGES := wrk nginx
PORT ?= 4566

.PHONY: help install run test lint format bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-8s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Install missing apt packages, create .venv, install onebox with test dependencies

$(VENV)/.installed: pyproject.toml
	@scripts/apt-ensure $(APT_PACKAGES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[test]'
	@# Byte-compile our sources even where PYTHONDONTWRITEBYTECODE is set: start-up time counts.
	@$(PY) -m compileall -q src >/dev/null
	@touch $@

run: install ## Install, then start onebox in the foreground on 127.0.0.1:4566 (PORT=N to change)
	@$(VENV)/bin/onebox up --port $(PORT)

test: install ## Install, then run the whole test suite
	@$(PY) -m pytest -q -p no:cacheprovider tests

lint: install ## Check style with ruff
	@$(VENV)/bin/ruff check src tests bench
	@$(VENV)/bin/ruff format --check src tests bench

format: install ## Reformat the code with ruff
	@$(VENV)/bin/ruff check --fix src tests bench
	@$(VENV)/bin/ruff format src tests bench

bench: install ## Benchmarks as ratios against peers in the same run (ONLY="s3 rds" for some)
	@scripts/apt-ensure $(BENCH_APT_PACKAGES)
	@$(PY) -m bench $(ONLY)

clean: ## Remove the virtualenv and caches (state dirs are left alone)
	rm -rf $(VENV) .pytest_cache
