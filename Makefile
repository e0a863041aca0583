# mmer: every target builds .venv/ first if it is missing (make install).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATASET ?= synthetic
EXPERIMENT ?=
ARGS ?=
SWEEP ?= experiments/sweeps/jmt_synthetic.yaml
SWEEP_ID ?=
COUNT ?= 4
DATA_DIR ?=
ifneq ($(DATA_DIR),)
export DATA_DIR   # only when given: an empty value would change the config hash
endif

# EXPERIMENT, or DATASET's default experiment (experiments/datasets.yaml); evaluated only by the targets using it
THE_EXPERIMENT = $(or $(EXPERIMENT),$(shell $(BIN)/python -c "from mmer.config import default_experiment as d; print(d('$(DATASET)'))"))
RUN ?=

.DEFAULT_GOAL := help
.PHONY: help install train extract test test-slow bench bench-train lint docs docs-serve ablation ablate explain sweep agent sweep-local clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/mmer: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" -c constraints.txt
	@# the face detector (MTCNN, weights inside the wheel): its wheel pins an old torch, so without its dependencies
	$(BIN)/python -m pip install --quiet --no-deps "facenet-pytorch==2.6.0"
	@touch $(BIN)/mmer

install: $(BIN)/mmer ## create .venv/ and install mmer with pinned torch (constraints.txt)

train: install ## run DATASET's default experiment (k-fold CV + merge); EXPERIMENT=, ARGS="key=value ..."
	$(BIN)/mmer train --dataset $(DATASET) $(if $(EXPERIMENT),--experiment $(EXPERIMENT)) $(ARGS)

extract: install ## build DATASET's feature cache (DATA_DIR=...), as training would on first use
	$(BIN)/mmer extract experiment=$(THE_EXPERIMENT) $(ARGS)

test: install ## fast test tier (pytest -m "not slow")
	$(BIN)/python -m pytest -m "not slow" -q $(ARGS)

test-slow: install ## slow tier (CI runs it after the fast tier)
	$(BIN)/python -m pytest -m slow -q $(ARGS)

bench: install ## benchmarks: ours beside the reference, one JSON line per workload (ARGS="--only 1,3 --size small")
	$(BIN)/python -m benchmarks.run $(ARGS)

bench-train: install ## wall time and peak memory of the default `make train` job (or DATASET's), as JSON
	$(BIN)/python -m benchmarks.train_job $(if $(filter-out synthetic,$(DATASET)),--dataset $(DATASET)) $(ARGS)

lint: install ## ruff, and the layer rule (import-linter contracts in pyproject.toml)
	$(BIN)/ruff check src data_modules tests benchmarks
	$(BIN)/lint-imports

docs: install ## build the documentation site from docs/ into site/ (mkdocs --strict: a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: install ## serve the documentation at http://127.0.0.1:8000, rebuilt on every change
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

ablation: install ## fusion vs single-modality table on DATASET's default experiment
	$(BIN)/mmer ablation experiment=$(THE_EXPERIMENT) $(ARGS)

ablate: install ## train and score every subset of the modalities of DATASET's default experiment (EMERSK's table)
	$(BIN)/mmer ablate experiment=$(THE_EXPERIMENT) $(ARGS)

explain: install ## a JSON record, a sentence and a PNG per video for a finished run: RUN=runs/<name>/<hash>
	$(BIN)/mmer explain $(RUN) $(ARGS)

sweep: install ## create a W&B sweep from SWEEP=<file> (needs `wandb login`)
	$(BIN)/wandb sweep $(SWEEP)

agent: install ## run a W&B sweep agent: SWEEP_ID=<entity/project/id> [COUNT=]
	$(BIN)/wandb agent --count $(COUNT) $(SWEEP_ID)

sweep-local: install ## run SWEEP=<file> offline with W&B's sweeps engine, COUNT trials
	$(BIN)/mmer sweep-local $(SWEEP) --count $(COUNT) $(ARGS)

clean: ## remove run folders, caches and the built docs site (keeps .venv)
	rm -rf runs wandb site .pytest_cache .ruff_cache
