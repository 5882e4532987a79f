"""An install always finds its model: the bundled weights ship as package data
(`srgan_cli/weights`, mapped from the top-level weights/ folder in pyproject.toml) and
`models.bundled.weights_dir` finds them with importlib.resources, in a wheel installed with
`pip install --target` as in any other install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _source_packages() -> set[str]:
    return {".".join(p.parent.relative_to(ROOT).parts)
            for p in (ROOT / "srgan_cli").rglob("__init__.py")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source (the checkout stays free of build output)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("srgan_cli", "weights"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(out)], check=True,
                   capture_output=True, timeout=300)
    (whl,) = out.glob("srgan_cli-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_holds_the_bundled_weights_and_every_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    bundled = sorted(p.name for p in (ROOT / "weights").glob("*.safetensors"))
    assert bundled and all(f"srgan_cli/weights/{b}" in names for b in bundled)
    assert "srgan_cli/models/catalogue.json" in names  # `--model NAME` needs it
    packaged = {n.rsplit("/", 1)[0].replace("/", ".") for n in names
                if n.endswith("/__init__.py")}
    assert _source_packages() <= packaged, "add new subpackages to pyproject's packages"
    assert not any(".data/data/share" in n for n in names)  # no data-files outside the package


@pytest.mark.slow
def test_target_install_finds_srresnet_x4(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", str(target), str(wheel)], check=True, capture_output=True,
                   timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("SRGAN_WEIGHTS_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    code = ("import srgan_cli\n"
            "from srgan_cli.models.loading import load\n"
            "from srgan_cli.models.bundled import default_model_spec\n"
            "m = load('srresnet_x4')\n"
            "print(srgan_cli.__file__, m.name, m.scale, m.source, default_model_spec())\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout.split()
    assert out[0].startswith(str(target))  # the installed copy, not this checkout
    assert out[1:3] == ["srresnet_x4", "4"] and out[4] == "srresnet_x4"
    assert out[3] == f"bundled:{target / 'srgan_cli' / 'weights' / 'srresnet_x4.safetensors'}"
    listing = subprocess.run([sys.executable, "-m", "srgan_cli", "models"], cwd=tmp_path,
                             env=env, check=True, capture_output=True, text=True,
                             timeout=300).stdout
    assert "srresnet_x4 (default)" in listing and str(target) in listing


def test_source_checkout_uses_the_top_level_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.models import bundled
    monkeypatch.delenv("SRGAN_WEIGHTS_DIR", raising=False)
    assert bundled.weights_dir() == ROOT / "weights"
    assert bundled.bundled_path("srresnet_x4").is_file()


def _make_recipe(target: str) -> list[str]:
    """The command lines of a Makefile target."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_test_prints_the_pytest_summary() -> None:
    """pytest's summary shows at one -q and hides at two: addopts and make give one in all."""
    import shlex
    import tomllib

    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]["addopts"]
    for target in ("test", "test-fast"):
        (command,) = [c for c in _make_recipe(target) if c.startswith("$(PYTEST)")]
        words = shlex.split(addopts) + shlex.split(command)
        assert words.count("-q") + 2 * words.count("-qq") <= 1, (target, command)


def test_license_is_an_spdx_expression() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"  # a table is deprecated by setuptools (warns)


def test_torch_index_is_optional_and_installed_first() -> None:
    recipe = _make_recipe("$(VENV)/.installed")
    torch_line = next(i for i, c in enumerate(recipe) if "TORCH_INDEX" in c)
    package_line = next(i for i, c in enumerate(recipe) if "-e '.[dev]'" in c)
    assert torch_line < package_line and recipe[torch_line].startswith("$(if $(TORCH_INDEX),")
    assert "TORCH_INDEX ?=\n" in (ROOT / "Makefile").read_text()
