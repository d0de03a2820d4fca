# The developer interface: `make run` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps

.PHONY: run test lint pytest bench setup clean

run: setup
	$(BIN)/qie doctor

test: setup lint pytest

setup: $(STAMPS)/venv

# Re-install when the project's dependencies change. constraints.txt pins every transitive package.
$(STAMPS)/venv: pyproject.toml constraints.txt
	bash scripts/setup-python.sh $(PYTHON) $(VENV)
	@mkdir -p $(STAMPS) && touch $@

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) $(STAMPS)
