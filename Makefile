# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv if missing, writes a sample image and upscales it with the bundled model
#   make test   creates .venv if missing, then lint, type check and the whole test suite
# Also: make test-fast (the quick loop, no `slow` tests), make lint, make typecheck, make bench.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Optional index for torch/torchvision, installed first: e.g. PyTorch's CPU-only wheels
# (about 1.4 GB instead of 5.8 GB with CUDA) on a machine without an NVIDIA GPU:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
# Empty (the default): torch comes from the default index with the rest.
TORCH_INDEX ?=
# Real benchmark images for the conformance tests (those tests skip when the folder is missing).
SRGAN_TEST_DATA ?= $(firstword $(wildcard ../shared/datasets))
PYTEST := SRGAN_TEST_DATA="$(SRGAN_TEST_DATA)" $(BIN)/python -m pytest

.PHONY: demo test test-fast lint typecheck bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --quiet --index-url $(TORCH_INDEX) torch torchvision)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The eval table names its dataset by the folder: demo/astronaut holds the original.
demo: $(VENV)/.installed
	mkdir -p demo/astronaut
	$(BIN)/srgan sample demo/astronaut_lr.png --hr-out demo/astronaut/astronaut.png --overwrite
	$(BIN)/srgan upscale demo/astronaut_lr.png --output demo/astronaut_x4.png --overwrite
	@echo "eval scores in fp32 on whole images, as published scores are (so its s/img is higher than upscale's):"
	$(BIN)/srgan eval --dataset demo/astronaut --model srresnet_x4 --model bicubic --scale 4
	@echo "upscaled demo/astronaut_lr.png -> demo/astronaut_x4.png (original: demo/astronaut/astronaut.png)"

# pyproject's addopts has -q: one more would hide pytest's pass/fail summary.
test: lint typecheck
	$(PYTEST)

test-fast: $(VENV)/.installed
	$(PYTEST) -m "not slow" -x

lint: $(VENV)/.installed
	$(BIN)/ruff check srgan_cli tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy srgan_cli tests

bench: $(VENV)/.installed
	@for s in bench/bench_*.py; do echo "== $$s"; $(BIN)/python $$s || exit 1; done

clean:
	rm -rf demo .pytest_cache .mypy_cache build *.egg-info
