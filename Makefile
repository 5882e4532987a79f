# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv if missing, writes a sample image and upscales it with the bundled model
#   make test   creates .venv if missing and runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Real benchmark images for the conformance tests (skipped when the folder does not exist).
SRGAN_TEST_DATA ?= $(firstword $(wildcard ../shared/datasets /work/shared/datasets))

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	mkdir -p demo/hr
	$(BIN)/srgan sample demo/astronaut_lr.png --hr-out demo/hr/astronaut.png --overwrite
	$(BIN)/srgan upscale demo/astronaut_lr.png --output demo/astronaut_x4.png --overwrite
	$(BIN)/srgan eval --dataset demo/hr --model srresnet_x4 --model bicubic --scale 4
	@echo "upscaled demo/astronaut_lr.png -> demo/astronaut_x4.png (original: demo/hr/astronaut.png)"

test: $(VENV)/.installed
	SRGAN_TEST_DATA="$(SRGAN_TEST_DATA)" $(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check srgan_cli tests bench

clean:
	rm -rf demo .pytest_cache build *.egg-info
