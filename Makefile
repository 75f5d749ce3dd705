# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PORT ?= 5000
REF ?= main
# `make all`: the budgets of params.yaml (cpu, sized for 2 cores), or profiles/$(PROFILE).yaml's as an experiment
PROFILE ?= cpu
UI_PID := .rnnlab/ui.pid
# what `make run` reproduces (dvc repro targets; empty: the main pipeline, dvc.yaml)
STAGES ?=
# `make run` when the team's DVC remote cannot be reached: fail, or warn and train locally
REMOTE_ERROR ?= fail
SERVER_DIR ?= .rnnlab/server
SERVER_HOST ?= 127.0.0.1
SERVER_PORT ?= 5001
PG_PORT ?= 5433
SERVER_WORKERS ?= 2
# where the tracking server keeps artifacts: empty = $(SERVER_DIR)/artifacts, or s3://bucket/path
ARTIFACTS ?=
# `make test`: pytest-xdist workers, a whole test module each at a time (the cores, at most 4)
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 4 ? n : 4 )))

export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup browser postgres run all push remote test ui ui-stop server server-stop bench review clean

# the stamp's name holds pyproject.toml's hash: a changed file needs a new stamp, a fresh clone's newer mtime does not
$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)  ## create .venv and install the pinned dependencies

browser:  ## headless Chromium for the MLflow UI test, from the system's package manager when missing
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "no Chromium and no root apt-get: install it (apt-get install chromium) for the browser test"; fi; }

postgres:  ## PostgreSQL's server programs (for `make server` and its tests), from the package manager when missing
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing postgresql with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "no PostgreSQL and no root apt-get: install it (apt-get install postgresql)"; fi; }

run: setup  ## restore what the team's DVC remote holds (if one is set), then reproduce the main pipeline (RNNLAB_MIRROR: offline)
	rnnlab remote restore --on-error $(REMOTE_ERROR)
	dvc repro $(STAGES)

all: setup  ## `make run`, then every study (studies/*/dvc.yaml); PROFILE=gpu: profiles/gpu.yaml's budgets, as a DVC experiment
	rnnlab remote restore --on-error $(REMOTE_ERROR)
ifeq ($(PROFILE),cpu)
	dvc repro --all-pipelines
else
	rnnlab profile profiles/$(PROFILE).yaml
endif

push: setup  ## publish the outputs and DVC's run-cache to the team's remote
	rnnlab remote push

remote: setup  ## make remote URL=...: set the team's DVC remote (commit .dvc/config; credentials stay local)
	@test -n "$(URL)" || { echo "usage: make remote URL=webdav://host/path | ssh://host/path | s3://bucket/path | /shared/folder"; exit 2; }
	dvc remote add --default --force team '$(URL)'

test: setup browser postgres  ## the test suite, on CPU, its modules spread over $(TEST_WORKERS) pytest-xdist workers
	python -m pytest -n $(TEST_WORKERS) --dist loadscope --durations=20

ui: setup  ## the MLflow UI on 127.0.0.1:$(PORT) in the foreground (one worker); Ctrl-C, a kill or `make ui-stop` stop all of it
	exec rnnlab ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} --port $(PORT) --pid-file $(UI_PID)

ui-stop:  ## stop the UI `make ui` started (its whole process group)
	rnnlab ui-stop --pid-file $(UI_PID)

server: setup postgres  ## the team's MLflow tracking server: PostgreSQL, logins, served artifacts, on $(SERVER_HOST):$(SERVER_PORT)
	rnnlab server start --dir $(SERVER_DIR) --host $(SERVER_HOST) --port $(SERVER_PORT) --pg-port $(PG_PORT) \
		--workers $(SERVER_WORKERS) --artifacts '$(ARTIFACTS)'

server-stop: setup  ## stop everything `make server` started
	rnnlab server stop --dir $(SERVER_DIR)

review: setup  ## params, metrics and plots of the workspace against REF (default main) -> reports/review.md
	python -m rnnlab.serving.review --ref $(REF) --out reports/review.md --plots reports/review_plots

bench: setup  ## the project's way against naive baselines -> benchmarks/results.md and results.json
	python benchmarks/bench_preprocess.py
	python benchmarks/bench_training.py
	python benchmarks/bench_scaling.py --imdb $${RNNLAB_MIRROR:-../shared/datasets}/imdb
	python benchmarks/bench_pipeline.py
