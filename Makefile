# The README's commands. Each target bootstraps what it needs (a virtualenv with the project and its
# dev dependencies; the infrastructure tools in their own virtualenvs) on a fresh machine.
# The project venv runs Python 3.12, the Lambda runtime, when one is found (PY312 below); else python3.
PYTHON ?= $(or $(PY312),python3)
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
STAMP := $(VENV)/.installed

# Infrastructure tools, pinned, each in its own virtualenv under .venv-infra (aws-sam-cli and checkov pin
# conflicting boto3 versions, and neither belongs in the project's environment). `sam build` needs a
# Python 3.12 (the Lambda runtime): the first of these that really runs 3.12 (a pyenv shim may not).
INFRA := .venv-infra
SAM_CLI_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
CHECKOV_VERSION := 3.3.30
INFRA_STAMP := $(INFRA)/.installed-$(SAM_CLI_VERSION)-$(CFN_LINT_VERSION)-$(CHECKOV_VERSION)
PY312 ?= $(shell for p in python3.12 $(HOME)/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	if "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then echo "$$p"; break; fi; done)
SAM := PATH="$(CURDIR)/$(INFRA)/sam/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(INFRA)/sam/bin/sam
BUILD_DIR := .aws-sam/build

.PHONY: demo local test lint format infra lint-template build scan sizes e2e clean openapi lock

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]" -e clients/python
	touch $(STAMP)

$(INFRA_STAMP):
	@test -n "$(PY312)" || { echo "error: sam build needs Python 3.12 (the Lambda runtime) and none was found:"; \
		echo "  install it (e.g. pyenv install 3.12) or run: make PY312=/path/to/python3.12 test"; exit 1; }
	rm -rf $(INFRA)
	$(PY312) -m venv $(INFRA)/sam
	$(PY312) -m venv $(INFRA)/checkov
	( $(INFRA)/sam/bin/pip install --quiet "aws-sam-cli==$(SAM_CLI_VERSION)" "cfn-lint==$(CFN_LINT_VERSION)" ) & sam=$$!; \
	( $(INFRA)/checkov/bin/pip install --quiet "checkov==$(CHECKOV_VERSION)" ) & checkov=$$!; \
	wait $$sam && wait $$checkov
	touch $(INFRA_STAMP)

## demo: start the local stack, generate memories from a real conversation, retrieve them
demo: $(STAMP)
	$(BIN)/engram demo

## local: run the local stack in the foreground on 127.0.0.1:$(PORT)
local: $(STAMP)
	$(BIN)/engram local --port $(PORT)

## test: lint, the template's lint/build/security scan, and the whole test suite (what CI runs)
test: $(STAMP) infra
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/core/engram functions dev/engram_dev
	$(BIN)/python -m engram_dev.openapi --check
	$(BIN)/pytest -q

## openapi: regenerate docs/openapi.json and the README's API reference from the routes
openapi: $(STAMP)
	$(BIN)/python -m engram_dev.openapi --write

## lock: resolve the layer's runtime dependencies (pyproject.toml) into layers/core/requirements.txt,
## pinned with hashes for the Lambda runtime (Python 3.12, arm64), leaving out layers/core/lock-excludes.txt
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 --python-platform aarch64-manylinux_2_28 \
		--generate-hashes --excludes layers/core/lock-excludes.txt --custom-compile-command "make lock" \
		--quiet -o layers/core/requirements.txt

## infra: cfn-lint + sam validate --lint, sam build (python3.12), checkov on every OpenSearch mode
infra: lint-template build scan

lint-template: $(INFRA_STAMP)
	$(INFRA)/sam/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml

build: $(INFRA_STAMP)
	$(SAM) build --template template.yaml --build-dir $(BUILD_DIR) --parallel

# checkov evaluates conditions with the parameters' defaults (serverless mode, OpenAI secret created), so
# the domain mode is scanned as a variant too. Every waiver is a Metadata.checkov.skip entry with its reason.
scan: $(INFRA_STAMP)
	$(INFRA)/checkov/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet
	@mkdir -p .aws-sam
	sed '/^  OpenSearchMode:/,/^  [A-Za-z]/ s/^    Default: serverless$$/    Default: domain/' template.yaml > .aws-sam/template-domain.yaml
	@grep -q "Default: domain" .aws-sam/template-domain.yaml || { echo "error: domain variant not rendered"; exit 1; }
	$(INFRA)/checkov/bin/checkov --file .aws-sam/template-domain.yaml --framework cloudformation --skip-download --compact --quiet

## sizes: the built layer's unzipped size and each function's package size (after `make build`)
sizes: $(STAMP)
	$(BIN)/python tests/infrastructure/package_sizes.py $(BUILD_DIR)

## e2e: generate -> poll -> retrieve -> purge against a deployed stack: make e2e STACK=<stack name>
e2e: $(STAMP)
	ENGRAM_E2E_STACK="$(STACK)" $(BIN)/pytest -q -m e2e tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(INFRA) .engram .aws-sam
