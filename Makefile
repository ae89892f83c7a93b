# One-command entry points. `make test` and `make demo` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export BLENDER_USER_RESOURCES ?= $(CURDIR)/build/blender_user
export WARP_CACHE_PATH ?= $(CURDIR)/build/warp_cache
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test test-fast demo bench clean addon

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

demo: setup
	$(PY) scripts/demo.py

bench: setup
	$(PY) -m benchmarks.run_all

addon: setup
	$(PY) build_addon.py

clean:
	rm -rf build dist output .pytest_cache
