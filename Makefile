# The README's commands. Each target bootstraps what it needs (a virtualenv with the project and its
# dev dependencies) on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
STAMP := $(VENV)/.installed

.PHONY: demo local test lint format clean openapi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## demo: start the local stack, generate memories from a real conversation, retrieve them
demo: $(STAMP)
	$(BIN)/engram demo

## local: run the local stack in the foreground on 127.0.0.1:$(PORT)
local: $(STAMP)
	$(BIN)/engram local --port $(PORT)

## test: lint and the whole test suite (what CI runs)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m engram.api.openapi --check
	$(BIN)/pytest -q

## openapi: regenerate docs/openapi.json and the README's API reference from the routes
openapi: $(STAMP)
	$(BIN)/python -m engram.api.openapi --write

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .engram .aws-sam
