# The developer interface: `make run` and `make test` set up everything they need on a fresh machine
# (virtual environment, pinned dependencies, the web UI build, a browser for the end-to-end tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
UI_BUILD := src/qwen_image_editor/static/index.html
UI_SOURCES := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/package.json frontend/openapi.json -type f 2>/dev/null)

.PHONY: run test test-stress test-fast pytest-fast lint pytest ui-test bench bench-load bench-stalled bench-revocation bench-health bench-gpu gpu-wheels gpu-day bench-scale setup ui browser openapi settings-table clean

run: setup ui
	QIE_MODEL=$${QIE_MODEL:-auto} $(BIN)/qie serve

test: setup ui browser lint ui-test pytest

# The whole suite while busy loops keep every core loaded: no test may depend on how fast the machine is.
test-stress: setup ui browser
	bash scripts/with-cpu-hog.sh $(MAKE) --no-print-directory test

# The inner loop: lint, the UI's unit tests, and the Python unit and API tests (on the fake engine; none
# starts a process of its own). `make test` adds the tiny diffusers model, the tests that start processes,
# and the browser. The Python tests mostly wait on sockets, so two pytest workers (pytest-xdist) share them
# and the UI's checks run beside them (-O keeps each one's output whole).
test-fast: setup $(STAMPS)/ui-deps
	@$(MAKE) --no-print-directory -j2 -O lint ui-test pytest-fast

pytest-fast: setup
	$(BIN)/pytest -n 2 -m "not slow and not browser and not real_model and not model and not process"

setup: $(STAMPS)/venv

# Re-install when the project's dependencies change; constraints.txt pins every transitive package.
$(STAMPS)/venv: pyproject.toml constraints.txt
	bash scripts/setup-python.sh $(PYTHON) $(VENV)
	@mkdir -p $(STAMPS) && touch $@

ui: $(UI_BUILD)

$(STAMPS)/ui-deps: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@mkdir -p $(STAMPS) && touch $@

$(UI_BUILD): $(STAMPS)/ui-deps $(UI_SOURCES)
	cd frontend && npm run build

browser:
	bash scripts/setup-browser.sh

# Regenerate the UI's API types from the server's schema (run after changing an API schema).
openapi: setup
	$(BIN)/python scripts/export_openapi.py frontend/openapi.json
	cd frontend && npm run gen:api

# Rewrite the README's settings tables from the Settings class (run after adding or changing a setting;
# tests/test_readme_settings.py fails until the two agree).
settings-table: setup
	$(BIN)/python scripts/settings_table.py

lint: setup $(STAMPS)/ui-deps
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/hadolint deploy/Dockerfile
	cd frontend && npm run lint

ui-test: $(STAMPS)/ui-deps
	cd frontend && npm run typecheck && npm test

pytest: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m benchmarks.run

# Full-size random-weight 2511 and 2.1 on a CUDA GPU: every memory plan that fits, each model's runs (QIE_BENCH_MODELS).
bench-gpu: setup
	$(BIN)/python -m benchmarks.gpu

# A GPU day (README, "A GPU day"): `make gpu-wheels` here fills GPU_WHEELS with what a bare GPU machine lacks (its
# CPython GPU_PYTHON_VERSION; one torchvision per torch it may have); `make gpu-day` there installs them offline and
# measures every memory plan of 2511 and 2.1 in under 8 minutes. GPU_DAY_DRY_RUN=1: the same on the CPU, tiny twins.
GPU_WHEELS ?= gpu-wheels
GPU_PYTHON_VERSION ?= 3.12
GPU_TORCHVISION ?= 0.26.0 0.29.1
GPU_DAY_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)

gpu-wheels: setup ui
	$(BIN)/python scripts/gpu_wheels.py $(GPU_WHEELS) --python-version $(GPU_PYTHON_VERSION) --torchvision $(GPU_TORCHVISION)

# No `setup` here: the GPU machine has no network, and its Python brings torch.
gpu-day:
	GPU_DAY_WHEELS=$${GPU_DAY_WHEELS-$(GPU_WHEELS)} GPU_DAY_DRY_RUN=$(GPU_DAY_DRY_RUN) $(GPU_DAY_PYTHON) -m benchmarks.gpu_day

# What abuse costs the server: huge uploads at once, a camera photo, stalled bodies, WebSocket churn.
bench-load: setup
	$(BIN)/python -m benchmarks.load

# Slow connections are bounded: 2,000 connections dripping headers or a body, the server's file descriptors.
bench-stalled: setup
	$(BIN)/python -m benchmarks.stalled_connections

# How long a revoked key's or signed-out session's live socket stays open, on SQLite and across PostgreSQL nodes.
bench-revocation: setup
	$(BIN)/python -m benchmarks.socket_revocation

# /api/health latency while 45 DELETEs of a running job and 48 reads of a hung S3 store (moto behind a frozen
# proxy) hold a `qie serve` subprocess: probes at idle and under load, and what the loading requests got.
bench-health: setup
	$(BIN)/python -m benchmarks.health_under_load

# Many GPU workers: 1, 2 and 4 fake-GPU worker processes behind two API nodes on PostgreSQL, step latency
# across processes, and one worker SIGKILLed mid-run (BENCH_SCALE_ARGS=--s3 keeps job files in moto's S3).
bench-scale: setup
	$(BIN)/python -m benchmarks.scale $(BENCH_SCALE_ARGS)

clean:
	rm -rf $(VENV) $(STAMPS) frontend/node_modules src/qwen_image_editor/static
