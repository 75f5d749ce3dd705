# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PORT ?= 5000
REF ?= main
UI_PID := .rnnlab/ui.pid

export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup browser run test ui ui-stop bench review clean

$(STAMP): pyproject.toml
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

run: setup  ## reproduce every DVC stage (set RNNLAB_MIRROR to work offline)
	dvc repro

test: setup browser  ## the test suite, on CPU
	python -m pytest

ui: setup  ## the MLflow UI on 127.0.0.1:$(PORT) in the foreground (one worker); Ctrl-C, a kill or `make ui-stop` stop all of it
	exec rnnlab ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} --port $(PORT) --pid-file $(UI_PID)

ui-stop:  ## stop the UI `make ui` started (its whole process group)
	rnnlab ui-stop --pid-file $(UI_PID)

review: setup  ## params, metrics and plots of the workspace against REF (default main) -> reports/review.md
	python -m rnnlab.serving.review --ref $(REF) --out reports/review.md --plots reports/review_plots

bench: setup  ## the project's way against naive baselines -> benchmarks/results.md and results.json
	python benchmarks/bench_preprocess.py
	python benchmarks/bench_training.py
	python benchmarks/bench_scaling.py --imdb $${RNNLAB_MIRROR:-../shared/datasets}/imdb
	python benchmarks/bench_pipeline.py
