# Two commands do everything on a fresh machine:
#   make demo   - set up .venv; on bundled synthetic data train + test DiffPose, render a video, train + test DiffPose-3D
#   make test   - set up .venv, lint (make lint) and run the test suite
# The virtualenv is reused while requirements/lock.txt, setup.py and this Makefile are unchanged.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.diffpose_mm-installed
# mmcv 2.1.0 has no wheel for torch 2.13 on PyPI: use the shared prebuilt one when it exists, otherwise
# build it once from source (~15 min on 2 cores) into this cache outside the repository.
MMCV_CACHE ?= $(HOME)/.cache/diffpose_mm/wheels
MMCV_SHARED := $(wildcard ../shared/wheels/mmcv-2.1.0-cp311-*.whl)
# --isolated drops pip's config, including the system CA bundle it names; pass that bundle when present.
CERT := $(if $(wildcard /etc/ssl/certs/ca-certificates.crt),--cert /etc/ssl/certs/ca-certificates.crt)

.PHONY: demo test lint install clean-venv
# what `make lint` checks (OpenMMLab's flake8 + isort + yapf, settings in setup.cfg)
LINT_PATHS := diffpose_mm tools tests configs demo setup.py

install: $(STAMP)

# torch and torchvision both come from the package index (CUDA build, runs on CPU): a machine-local
# torch 2.13.0+cpu wheel cannot load the index's torchvision ops, so --isolated ignores local pip config.
# mmpose's chumpy dependency does not build on Python 3.11 and is never imported; openmim's full
# dependency set downgrades setuptools/requests: both go in with --no-deps, their real needs are pinned
# in requirements/lock.txt.
$(STAMP): requirements/lock.txt requirements/lint.txt setup.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --isolated $(CERT) -q "setuptools>=77,<82" wheel "numpy==1.26.4" torch==2.13.0 torchvision==0.28.0
	$(PIP) install -q -r requirements/lock.txt -r requirements/lint.txt
	bash tools/misc/install_mmcv.sh $(PY) "$(MMCV_SHARED)" $(MMCV_CACHE)
	$(PIP) install -q --no-deps mmpose==1.3.2 openmim==0.3.9
	$(PIP) install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import mmcv.ops, mmpose.models, mmdet, mmpretrain, diffpose_mm; print('environment OK')"
	touch $(STAMP)

test: lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/flake8 $(wildcard $(LINT_PATHS))
	$(VENV)/bin/isort --check-only --diff $(wildcard $(LINT_PATHS))
	$(VENV)/bin/yapf --diff --recursive --exclude 'diffpose_mm/.mim/*' $(wildcard $(LINT_PATHS))

demo: $(STAMP)
	bash tools/demo.sh $(PY)

clean-venv:
	rm -rf $(VENV)
