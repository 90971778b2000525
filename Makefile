# hazardwatch: every target does its own set-up on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# gstreamer1.0-x brings timeoverlay (the RTSP test server's live mounts); fonts-noto-cjk the Chinese
# text of headless-browser screenshots of the pages.
DEB_PACKAGES := ffmpeg redis-server gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
	gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-x postgresql \
	fonts-noto-cjk chromium poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b \
	libharfbuzz-subset0 libfontconfig1
PYTEST_ARGS ?=
# e.g. make demo DEMO_ARGS="--exit-after --port 18080": stop once the tickets are printed
DEMO_ARGS ?=
# ultralytics (and torch) live in their own venv: they pull the non-headless OpenCV and are needed
# only to export models, never to run. Tests that export call this interpreter.
EXPORT_VENV := .venv-export

.PHONY: demo test lint typecheck unit deps venv export-venv clean bench baseline

# Every time (no stamp: a package removed later must be put back, and a capability missing must be
# named): install the packages dpkg does not list as installed, then check that every GStreamer
# element, FFmpeg encoder/decoder/muxer/filter, binary and gi binding the tests and the demo use is
# really there (tools/check_deps.py, about a second; one line per missing capability).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@/usr/bin/python3 tools/check_deps.py

venv: .stamp-venv
	@$(PY) tools/check_deps.py --pyav
.stamp-venv: pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,postgres]'
	@touch $@

# It is also the training interpreter of `hazardwatch models train` (the [train] extra's packages:
# onnx2torch, tqdm).
export-venv: .stamp-export
.stamp-export: pyproject.toml
	@[ -x $(EXPORT_VENV)/bin/python ] || $(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_VENV)/bin/python -m pip install -q --upgrade pip
	$(EXPORT_VENV)/bin/python -m pip install -q torch==2.13.0 ultralytics onnx onnxslim onnxruntime \
		'onnx2torch>=1.5' 'tqdm>=4.60' pyyaml
	@touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

test: deps venv export-venv lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest -m "not integration and not slow" $(PYTEST_ARGS)

bench: deps venv
	$(PY) benchmarks/decode.py
	$(PY) benchmarks/detector.py

# The accuracy gate's committed baseline (tests/benchmarks/test_accuracy_gate.py): refresh it
# after a deliberate change, look at the diff, commit it.
SUITE_DIR := .cache/scenarios-seed1234
baseline: deps venv
	$(PY) -m benchmarks.scenarios.generate --out $(SUITE_DIR) --seed 1234 --jobs 2
	$(PY) -m benchmarks.scenarios.hd $(SUITE_DIR)
	$(VENV)/bin/hazardwatch eval $(SUITE_DIR) $(SUITE_DIR)/suite_720p.yaml benchmarks/scenarios/real_clips.yaml \
		--jobs 2 --json benchmarks/scenarios/baseline.json

demo: deps venv
	$(VENV)/bin/hazardwatch demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) $(EXPORT_VENV) .stamp-deb .stamp-venv .stamp-export .mypy_cache .ruff_cache .pytest_cache
