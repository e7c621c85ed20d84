# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench clean install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/clienta serve --seed-demo

AXE := .cache/npm/node_modules/axe-core/axe.min.js

# the accessibility checks' axe-core, from npm when npm is there (browser tests skip without it
# outside CI, as they do without Chromium)
$(AXE):
	-command -v npm >/dev/null && npm install --prefix .cache/npm axe-core@4 >/dev/null

test: $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench all --quick

clean:
	rm -rf $(VENV) .clienta
