# Entry points for a developer machine and CI. Needs only python3 (3.11) and make: uv is taken
# from PATH or ~/.local/bin, else installed with `python3 -m pip install --user uv`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Looked up at each use (recursive variable), so a uv installed by the `uv` target is found by
# the recipes that run after it.
UV = $(shell command -v uv 2>/dev/null \
	|| { test -x "$$HOME/.local/bin/uv" && echo "$$HOME/.local/bin/uv"; } \
	|| { python3 -m uv --version >/dev/null 2>&1 && echo "python3 -m uv"; } \
	|| echo uv)

# One pytest run per package, so conftests and model/table names never meet.
TEST_DIRS := testkit/tests shared/tests approval-svc/tests supervision-svc/tests notify-svc/tests portal-svc/tests tests
PYTEST_ARGS ?=
MYPY_TARGETS := testkit/src shared/src approval-svc/src supervision-svc/src notify-svc/src portal-svc/src services bench

.PHONY: help uv sync run demo test faults lint fmt bench

help:
	@echo "make run    the platform on this machine (embedded broker, 3 services, the portal, dev tokens)"
	@echo "make demo   the same, with the department-system simulator and sample submissions"
	@echo "make test   every package's tests, one pytest run per package (PYTEST_ARGS=...)"
	@echo "make faults the fault suite: SIGKILLs under load, under the real runner (~8 min)"
	@echo "make lint   ruff check, ruff format --check, mypy (strict)"
	@echo "make fmt    ruff format and ruff check --fix"
	@echo "make bench  the approval benchmark, SQLite then PostgreSQL (BENCH_ARGS=...)"

uv:
	@if ! $(UV) --version >/dev/null 2>&1; then \
		echo "uv not found: installing it with 'python3 -m pip install --user uv'"; \
		python3 -m pip install --user --quiet uv 2>/dev/null \
			|| python3 -m pip install --user --quiet --break-system-packages uv \
			|| { echo "could not install uv: install pip for python3, or uv itself" >&2; exit 1; }; \
	fi

sync: uv
	$(UV) sync --locked

# `make run SIMULATE=1` also starts the department simulator (projects then flow by themselves).
run: sync
	$(UV) run python -m services up $(if $(SIMULATE),--simulate-departments,)

demo: sync
	$(UV) run python -m services up --simulate-departments --demo

test: sync
	@passed=""; empty=""; started=$$SECONDS; \
	for dir in $(TEST_DIRS); do \
		if ! find "$$dir" \( -name 'test_*.py' -o -name '*_test.py' \) 2>/dev/null | grep -q .; then \
			echo "== $$dir: no tests yet"; empty="$$empty $$dir"; continue; \
		fi; \
		echo "== $$dir"; \
		status=0; $(UV) run pytest "$$dir" $(PYTEST_ARGS) || status=$$?; \
		if [ "$$status" -ne 0 ]; then \
			echo "test summary: FAILED in $$dir (pytest exit code $$status);" \
				"passed:$${passed:- none}; not run after it." >&2; \
			exit "$$status"; \
		fi; \
		passed="$$passed $$dir"; \
	done; \
	echo "test summary: all passed in $$((SECONDS - started))s; passed:$${passed:- none};" \
		"no tests yet:$${empty:- none}"

faults: sync
	RUN_FAULT_SUITE=1 $(UV) run pytest tests/faults $(PYTEST_ARGS)

lint: sync
	$(UV) run ruff check . && $(UV) run ruff format --check . && $(UV) run mypy $(MYPY_TARGETS)

fmt: sync
	$(UV) run ruff format . && $(UV) run ruff check --fix .

# Both databases, each in both modes (saturation, then an open loop at half its rate).
BENCH_ARGS ?=
bench: sync
	$(UV) run python -m bench.approval --database sqlite $(BENCH_ARGS)
	$(UV) run python -m bench.approval --database postgres $(BENCH_ARGS)
