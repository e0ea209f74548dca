# pillars: the template's tests, the Ansible bundle's integration tests, the demo and the benchmarks.
# Every target sets up what it needs in .venv (Python 3.11+, packages from PyPI).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help test test-integration demo bench clean

help:
	@echo "make test              template tests: bake every option combination, run each agent's own tests and ruff"
	@echo "make test-integration  Ansible lint gates + Molecule on a real systemd Debian 12 container"
	@echo "make demo              bake an agent, run it once on the sample documents, show what it did"
	@echo "make bench             measure memory, start-up, throughput and queries against baselines"

$(VENV)/.dev-installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(VENV)/.integration-installed: $(VENV)/.dev-installed requirements-integration.txt
	$(PY) -m pip install --quiet -r requirements-integration.txt
	touch $@

# The template's OCR tests run the real tesseract (fra, ara, eng) and pdftoppm; the backup tests
# run restic.
OCR_PACKAGES := tesseract-ocr tesseract-ocr-fra tesseract-ocr-ara poppler-utils restic

test: $(VENV)/.dev-installed
	@missing=""; for tool in tesseract pdftoppm restic; do command -v $$tool > /dev/null || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then for lang in fra ara eng; do \
	    tesseract --list-langs 2>/dev/null | grep -qx $$lang || missing="$$missing tesseract-$$lang"; done; fi; \
	if [ -n "$$missing" ]; then \
	    echo "make test: missing$$missing, which the OCR and backup tests run; install them: sudo apt-get install $(OCR_PACKAGES)" >&2; \
	    exit 1; fi
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest tests

test-integration: $(VENV)/.integration-installed
	PATH="$(abspath $(VENV))/bin:$$PATH" bash molecule/resources/run-integration.sh

demo: $(VENV)/.dev-installed
	@set -e; demo=$$(mktemp -d "$${TMPDIR:-/tmp}/pillars-demo.XXXXXX"); \
	$(VENV)/bin/cookiecutter --no-input --output-dir $$demo . > /dev/null; \
	cd $$demo/document-intake-agent; \
	$(abspath $(PY)) -m pip install --quiet --no-deps --no-build-isolation . ; \
	agent=$(abspath $(VENV))/bin/document-intake-agent; \
	cp .env.example .env; chmod 600 .env; \
	mkdir -p var/incoming; cp samples/incoming/* var/incoming/; \
	$(abspath $(PY)) scripts/make_samples.py var/incoming; touch -d '1 minute ago' var/incoming/*; \
	echo "== Baked into $$demo/document-intake-agent; running once with the fake LLM and local OCR"; \
	$$agent once > var/run.log; \
	echo "== outbox/ (results)"; for f in var/outbox/*.json; do echo "-- $$f"; cat "$$f"; done; \
	echo "== review queue (a human decides)"; $$agent review list; \
	echo "== costs"; $$agent costs; \
	echo "== audit"; $$agent audit verify; \
	echo "== status"; $$agent status

bench: $(VENV)/.dev-installed
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache
