# Timbre Lab: `make run` launches the app, `make test` runs every test.
# Everything the project needs (Debian packages, a virtual environment, torch, the project) is
# installed from here, so both commands work on a fresh Debian machine with Python 3.11 and make.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The one place torch is pinned. pip picks the CPU wheel from the local cache when there is one;
# on a machine with an NVIDIA driver the same pin brings the CUDA build.
TORCH_VERSION := 2.13.0

APT_PACKAGES := libsndfile1 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins \
	libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libfreetype6 libdbus-1-3 \
	xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
	libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 \
	desktop-file-utils appstream \
	chromium

STAMP := $(VENV)/.installed

.PHONY: run test lint format install system-packages starter-models screenshots bench demo package clean

install: $(STAMP)

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Debian packages: $$missing"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
				|| { echo "apt-get install failed"; exit 1; }; \
		else \
			echo "Timbre Lab needs these Debian packages. Install them with:"; \
			echo "  sudo apt-get install -y $$missing"; \
			exit 1; \
		fi; \
	fi

$(STAMP): pyproject.toml Makefile | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

run: system-packages $(STAMP)
	@if [ "$$(uname)" = Linux ] && [ -z "$$DISPLAY$$WAYLAND_DISPLAY$$QT_QPA_PLATFORM" ]; then \
		echo "No display (DISPLAY and WAYLAND_DISPLAY are unset): running the headless demo instead."; \
		$(BIN)/timbrelab demo; \
	else \
		$(BIN)/timbrelab; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check synth_core app tests bench
	$(BIN)/ruff format --check synth_core app tests bench

format: $(STAMP)
	$(BIN)/ruff format synth_core app tests bench
	$(BIN)/ruff check --fix synth_core app tests bench

test: system-packages $(STAMP) lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

starter-models: system-packages $(STAMP)
	$(BIN)/python -m synth_core.commands.starter_models

# Tests save their screenshots outside the repository; this redraws the ones kept in docs/.
SCREENSHOT_TESTS := tests/app/test_explore_screenshots.py tests/app/test_xvfb_window.py \
	tests/app/test_studio_xvfb.py

screenshots: system-packages $(STAMP)
	TIMBRELAB_ARTIFACTS=$(CURDIR)/docs/screenshots QT_QPA_PLATFORM=offscreen \
		$(BIN)/python -m pytest -q $(SCREENSHOT_TESTS)

bench: system-packages $(STAMP)
	$(BIN)/timbrelab bench

demo: system-packages $(STAMP)
	$(BIN)/timbrelab demo

# The one-folder app, dist/timbrelab/ (run dist/timbrelab/timbrelab), from packaging/timbrelab.spec.
# PyInstaller is installed here only (the "package" extra): `make test` does not need it.
package: system-packages $(STAMP)
	$(BIN)/python -m pip install -q -e ".[package]"
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath dist \
		--workpath build/pyinstaller packaging/timbrelab.spec
	@du -sh dist/timbrelab

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
