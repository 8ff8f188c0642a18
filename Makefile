# Progressive delivery for API Gateway + Lambda. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON        ?= python3.11
VENV          := .venv
BIN           := $(abspath $(VENV))/bin
CACHE_DIR     ?= $(HOME)/.cache/apigw-canary
TF_RC         := $(CACHE_DIR)/terraform.rc
LOCALCLOUD_PORT ?= 4566
# Seconds per metric datapoint in the local cloud: 60 like CloudWatch; 10 makes local rollouts take minutes.
LOCALCLOUD_METRIC_PERIOD ?= 60
LOCALCLOUD_DIR  := .localcloud
# IAM in the local cloud: off (every caller all-powerful) or enforce (IAM users' and roles' policies apply).
LOCALCLOUD_IAM  ?= off
# enforce = answer API Gateway/CloudWatch calls over AWS's control-plane rate quotas with 429/Throttling.
LOCALCLOUD_QUOTAS ?= off
AWS_REGION    ?= us-east-1

export APIGW_CANARY_CACHE := $(CACHE_DIR)
export TF_CLI_CONFIG_FILE := $(TF_RC)
export PATH := $(BIN):$(PATH)

.PHONY: help setup toolchain tools env up down test test-unit lint fmt docs demo bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.installed toolchain tools ## install everything (idempotent; one line when warm)

# Says which path it takes and why: the Terraform registry's released builds when it answers, else a build
# from the Go module proxy (scripts/setup-toolchain.sh; APIGW_CANARY_TOOLCHAIN=registry|source decides).
toolchain: $(VENV)/.installed ## terraform, hashicorp/aws and terraform-docs, cached under $(CACHE_DIR)
	@VENV_BIN=$(BIN) bash scripts/setup-toolchain.sh

tools: ## checkov (own venv, cached under $(CACHE_DIR))
	@bash scripts/install-checkov.sh > /dev/null

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

env: ## print shell exports for the local cloud: eval "$$(make -s env)"
	@echo 'export PATH="$(BIN):$$PATH"'
	@echo 'export TF_CLI_CONFIG_FILE="$(TF_RC)"'
	@echo 'export AWS_ENDPOINT_URL="http://127.0.0.1:$(LOCALCLOUD_PORT)"'
	@echo 'export AWS_ACCESS_KEY_ID="test"'
	@echo 'export AWS_SECRET_ACCESS_KEY="test"'
	@echo 'export AWS_REGION="$(AWS_REGION)"'
	@echo 'export AWS_DEFAULT_REGION="$(AWS_REGION)"'

up: $(VENV)/.installed ## start the local cloud on 127.0.0.1:$(LOCALCLOUD_PORT) (log: .localcloud/localcloud.log; LOCALCLOUD_IAM=enforce, LOCALCLOUD_QUOTAS=enforce)
	@LOCALCLOUD_IAM=$(LOCALCLOUD_IAM) LOCALCLOUD_QUOTAS=$(LOCALCLOUD_QUOTAS) $(BIN)/python -m localcloud up --port $(LOCALCLOUD_PORT) --metric-period $(LOCALCLOUD_METRIC_PERIOD) --state-dir $(LOCALCLOUD_DIR)

down: ## stop the local cloud
	@test ! -x $(BIN)/python || $(BIN)/python -m localcloud down --state-dir $(LOCALCLOUD_DIR)

test: setup ## run the whole suite (unit, local cloud, terraform, e2e, demo pieces)
	@$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-unit: setup ## run the tests that need no local cloud
	@$(BIN)/python -m pytest -q tests/unit $(PYTEST_ARGS)

lint: setup ## ruff and terraform fmt
	@$(BIN)/ruff check controller localcloud bench demo tests
	@$(BIN)/terraform fmt -check -recursive

fmt: setup ## format Python and Terraform
	@$(BIN)/ruff check --fix controller localcloud bench demo tests || true
	@$(BIN)/terraform fmt -recursive

demo: setup ## the whole product on the local cloud: promote a good release, undo it, roll back a bad one
	@$(BIN)/python -m demo

docs: toolchain ## regenerate the terraform-docs tables (docs/module.md, module and example READMEs)
	@bash scripts/terraform-docs.sh

bench: $(VENV)/.installed ## benchmarks: judge vs peers, data-plane throughput, fleets of stacks under the quotas
	@$(BIN)/python -m bench

clean: ## remove the venv and local state (keeps the provider cache)
	rm -rf $(VENV) $(LOCALCLOUD_DIR) out bench/out
