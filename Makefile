# Set-up and the main jobs. Each target installs what it needs on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
# The device back-end Coral's stack still uses: tflite-runtime 2.14 (Python <= 3.11, numpy < 2), no TensorFlow.
TFLITE_VENV ?= .venv-tflite
TFLITE_PY := $(TFLITE_VENV)/bin/python
MODELS := build/test-models
FASHION := /usr/share/datasets/fashion-mnist
# The live page's browser test (headless Chromium, its driver) and the MQTT tests' broker: Debian's.
LIVE_DEBS := /usr/bin/chromedriver /usr/sbin/mosquitto
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The tests and benches start the CLI over a thousand times: let Python keep its compiled modules
# (__pycache__, ignored by git), as an installed wheel has them, instead of recompiling every start.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test lint test-litert test-tflite-runtime bench bench-device pi-check

demo: $(VENV)/.installed          ## train, export, verify, classify a sample; prints float32 vs int8
	$(PY) cli.py demo

test: lint test-litert test-tflite-runtime  ## lint, then the test suite under both interpreter back-ends

lint: $(VENV)/.installed  ## ruff's lint rules (pyproject.toml)
	$(PY) -m ruff check .

test-litert: $(VENV)/.installed $(FASHION) $(LIVE_DEBS)  ## every test: TensorFlow + ai-edge-litert (real data, real interpreter)
	$(PY) -m pytest

# The runtime's tests again in a venv without TensorFlow, on models the main venv builds.
test-tflite-runtime: $(TFLITE_VENV)/.installed $(VENV)/.installed $(LIVE_DEBS)
	rm -rf $(MODELS) && $(PY) tools/test_models.py $(MODELS)
	MNIST_EDGE_MODELS=$(abspath $(MODELS)) MNIST_EDGE_BACKEND=tflite_runtime $(TFLITE_PY) -m pytest -m "not tensorflow and not litert"

bench: $(VENV)/.installed $(TFLITE_VENV)/.installed $(FASHION) $(LIVE_DEBS) ## every benchmark -> bench/results-*.md
	$(PY) bench/peers.py
	$(PY) bench/targets.py
	$(PY) bench/graph.py
	$(PY) bench/hostile.py
	$(PY) bench/hostile_inputs.py
	$(PY) bench/calibration.py
	$(PY) bench/camera.py
	$(PY) bench/serve.py
	$(MAKE) bench-device

# A device-like venv (the runtime and LiteRT only, as on a Pi): one-shot commands beside bare LiteRT.
DEVICE_VENV ?= .venv-device
bench-device: $(VENV)/.installed $(DEVICE_VENV)/.installed  ## cold start, RSS, per-image and per-frame cost -> bench/results-device.md
	$(PY) bench/device.py --device-python $(DEVICE_VENV)/bin/python

$(DEVICE_VENV)/.installed: pyproject.toml
	python3 -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEVICE_VENV)/bin/python -m pip install --quiet '.[litert]'
	touch $@

# The device end on an emulated Raspberry Pi OS 64-bit (qemu-user + debootstrap, as root; not in CI).
# Run it for every change to runtime/. The first run builds a root in /var/cache/mnist-edge (~20 min).
pi-check: $(VENV)/.installed  ## wheel + real model on x86, the same commands in an arm64 chroot, compared
	$(SUDO) HOST_PY=$(abspath $(PY)) tools/pi_check/pi_check.sh

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,litert,qat,report,bench,serve,mqtt,dev]'
	touch $@

$(TFLITE_VENV)/.installed: pyproject.toml
	python3 -m venv $(TFLITE_VENV)
	$(TFLITE_PY) -m pip install --quiet --upgrade pip
	$(TFLITE_PY) -m pip install --quiet -e '.[tflite,report,serve,mqtt,dev]'
	touch $@

# Full Fashion-MNIST from Debian, used offline by the tests and benchmarks.
$(FASHION):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq dataset-fashion-mnist

$(LIVE_DEBS) &:
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium chromium-driver mosquitto
