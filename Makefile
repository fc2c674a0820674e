# `make run` starts the whole stack on this machine; `make test` runs the whole suite. Both set up what is missing.
# `make lint`: ruff (lint and format) and mypy with django-stubs on the apps (config in pyproject.toml).
# A blank value (set to only spaces, in the environment or on the command line) counts as unset, as in the scripts.
override PYTHON := $(or $(strip $(PYTHON)),python3)
override VENV := $(or $(strip $(VENV)),.venv)
export VENV

.PHONY: run test venv system lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

system:
	@scripts/ensure_system.sh

test: venv system
	scripts/test.sh

run: venv system
	scripts/run.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: venv
	WITH_WRK=1 scripts/ensure_system.sh
	$(VENV)/bin/python bench/predict_bench.py
	$(VENV)/bin/python bench/drift_bench.py

clean:
	rm -rf $(VENV) .run staticfiles
