# Set-up and the main jobs. Each target installs what it needs on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
# The device back-end Coral's stack still uses: tflite-runtime 2.14 (Python <= 3.11, numpy < 2), no TensorFlow.
TFLITE_VENV ?= .venv-tflite
TFLITE_PY := $(TFLITE_VENV)/bin/python
MODELS := build/test-models
FASHION := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint test-litert test-tflite-runtime bench

demo: $(VENV)/.installed          ## train, export, verify, classify a sample; prints float32 vs int8
	$(PY) cli.py demo

test: lint test-litert test-tflite-runtime  ## lint, then the test suite under both interpreter back-ends

lint: $(VENV)/.installed  ## ruff's lint rules (pyproject.toml)
	$(PY) -m ruff check .

test-litert: $(VENV)/.installed $(FASHION)  ## every test: TensorFlow + ai-edge-litert (real data, real interpreter)
	$(PY) -m pytest

# The runtime's tests again in a venv without TensorFlow, on models the main venv builds.
test-tflite-runtime: $(TFLITE_VENV)/.installed $(VENV)/.installed
	rm -rf $(MODELS) && $(PY) tools/test_models.py $(MODELS)
	MNIST_EDGE_MODELS=$(abspath $(MODELS)) MNIST_EDGE_BACKEND=tflite_runtime $(TFLITE_PY) -m pytest -m "not tensorflow and not litert"

bench: $(VENV)/.installed $(TFLITE_VENV)/.installed $(FASHION) ## every benchmark -> bench/results-*.md
	$(PY) bench/peers.py
	$(PY) bench/targets.py
	$(PY) bench/hostile.py
	$(PY) bench/hostile_inputs.py
	$(PY) bench/calibration.py
	$(PY) bench/camera.py

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,litert,qat,report,bench,dev]'
	touch $@

$(TFLITE_VENV)/.installed: pyproject.toml
	python3 -m venv $(TFLITE_VENV)
	$(TFLITE_PY) -m pip install --quiet --upgrade pip
	$(TFLITE_PY) -m pip install --quiet -e '.[tflite,report,dev]'
	touch $@

# Full Fashion-MNIST from Debian, used offline by the tests and benchmarks.
$(FASHION):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq dataset-fashion-mnist
