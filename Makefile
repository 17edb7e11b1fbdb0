# Set-up and the main jobs. Each target installs what it needs on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench

demo: $(VENV)/.installed          ## train, export, verify, classify a sample; prints float32 vs int8
	$(PY) cli.py demo

test: $(VENV)/.installed $(FASHION)  ## the test suite (real data, real interpreter)
	$(PY) -m pytest

bench: $(VENV)/.installed $(FASHION) ## pipeline, calibration and camera benchmarks -> bench/results-*.md
	$(PY) bench/pipeline.py
	$(PY) bench/calibration_size.py
	$(PY) bench/camera.py

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,litert,dev]'
	touch $@

# Full Fashion-MNIST from Debian, used offline by the tests and benchmarks.
$(FASHION):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq dataset-fashion-mnist
