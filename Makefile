# hcs — two commands do all set-up on a fresh Debian machine:
#   make demo   create .venv, install, run the main job on an embedded default
#   make test   create .venv, install, lint and run the tests
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
HCS    := $(VENV)/bin/hcs
MPI    := $(shell command -v mpirun >/dev/null 2>&1 && echo 1)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_OUT ?= demo-out
PYTEST_ARGS ?=
# Horovod workers and precision of `make sbs96` / `make stability` training (the model does not
# depend on WORKERS: strong scaling and the canonical step, bit for bit with 1 or 2); e.g. `make sbs96 WORKERS=2 PRECISION=auto`.
WORKERS ?=
PRECISION ?= fp32

.PHONY: demo sbs96 stability test test-fast test-slow lint install install-score horovod model soak bench docker-test clean help

help:
	@echo "make demo | make test | make sbs96 | make stability | make test-fast | make model | make bench | make soak | make docker-test"

# --- set-up ---------------------------------------------------------------
$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "hcs needs Python 3.11, found " + sys.version' \
	  || { echo "Install Python 3.11 (Debian: apt-get install python3.11 python3.11-venv) or set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip wheel 'setuptools>=69'

.stamp-apt:
	@missing=""; for t in cmake g++ make; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then echo "installing build tools:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq cmake g++ make >/dev/null; fi
	@touch $@

# Scoring side only (no TensorFlow).
install-score: $(PY)
	$(PIP) install -q -c constraints.txt -e '.[dev]'

.stamp-install: $(PY) pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt -e '.[train,dev]'
	@touch $@

# Horovod is built against the installed TensorFlow, so it comes after it and
# without build isolation; Gloo always, MPI too when OpenMPI is installed.
.stamp-horovod: .stamp-install .stamp-apt
	@$(PY) -c 'import horovod.tensorflow' 2>/dev/null || { \
	  echo "building Horovod 0.28.1 against TensorFlow (about 5 minutes on 2 cores)"; \
	  HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
	  $(if $(MPI),HOROVOD_WITH_MPI=1,HOROVOD_WITHOUT_MPI=1) \
	  $(PIP) install -q -c constraints.txt --no-build-isolation horovod==0.28.1; }
	@touch $@

# Headless Chromium renders the HTML report in the report tests.
.stamp-chromium:
	@command -v chromium >/dev/null || { echo "installing chromium (headless report tests)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@touch $@

install: .stamp-horovod
horovod: .stamp-horovod

# --- the two commands -----------------------------------------------------
demo: install
	$(PY) -m mcnn_train.demo --out $(DEMO_OUT)

lint: .stamp-install
	$(VENV)/bin/ruff check mcnn_infer mcnn_train cli tests benchmarks

test: install .stamp-chromium lint
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: install lint
	$(PY) -m pytest -q -m "not slow and not soak" $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -q -m "slow and not soak" $(PYTEST_ARGS)

# --- other jobs -----------------------------------------------------------
model: install
	$(PY) -m mcnn_train.default_model --out models/mcnn-small-synth

bench: install
	for b in benchmarks/*.py; do case $$b in */seeded_mcnn.py|*/stability.py|*/model_pair.py) continue;; esac; \
	  echo "== $$b"; $(PY) $$b || exit 1; done

# The real 96-well plate: M-CNN trained on the controls of rows A-D, judged on rows E-H side by
# side with the classical translocation readout (sbs96-out/results/report.html, section "M-CNN vs classical readout").
sbs96: install
	$(PY) -m mcnn_train.sbs96_example --plate ../shared/data/sbs96 --out sbs96-out \
	  $(if $(WORKERS),--workers $(WORKERS)) --precision $(PRECISION)

# Run-to-run spread: sbs96 and the demo, each trained with 3 seeds (about 30 minutes on 2 cores).
stability: install
	$(PY) benchmarks/stability.py --seeds 0 1 2 --out stability-out \
	  $(if $(WORKERS),--workers $(WORKERS)) --precision $(PRECISION)

soak: install
	$(PY) -m pytest -q -m soak -p no:cacheprovider

docker-test:
	bash .ci/docker-test

clean:
	rm -rf $(VENV) .stamp-* build *.egg-info $(DEMO_OUT) sbs96-out stability-out
