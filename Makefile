# loihi-deploy: set-up, demo, tests, benchmarks. Everything runs inside .venv (Python 3.11).
PYTHON_BASE ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
PIP         := $(PY) -m pip
STAMP       := $(VENV)/.installed

.PHONY: install demo test test-slow bench bench-quick clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt loihi_deploy/setup_lava.py tools/render_deps.sh
	bash tools/render_deps.sh   # EGL / OSMesa for the pixel environments (apt-get if missing)
	$(PYTHON_BASE) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	# lava-nc / lava-dl: the same code path as `loihi-deploy setup-lava` (docs/lava.md)
	$(VENV)/bin/loihi-deploy setup-lava --constraints constraints.txt
	$(PY) -c "import lava.magma.core.run_configs, loihi_deploy.compiler, loihi_deploy.runtime, loihi_deploy.sim_backend, loihi_deploy.cli; print('install ok')"
	touch $(STAMP)

demo: install
	$(VENV)/bin/loihi-deploy demo

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

bench: install
	$(VENV)/bin/loihi-deploy bench

bench-quick: install
	$(VENV)/bin/loihi-deploy bench --quick

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
