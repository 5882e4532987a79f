"""Small things start fast: `srgan --version`, `--help`, `models` and `eval --model bicubic`
never import torch (it alone takes about a second), nor does `import srgan_cli`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

# Runs srgan in a fresh interpreter, then reports whether torch was imported.
_PROBE = """
import sys
from srgan_cli.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code or 0
else:
    code = 0
sys.stdout.flush()
print("TORCH_IMPORTED" if "torch" in sys.modules else "NO_TORCH", code, file=sys.stderr)
"""


def _probe(args: list[str], cwd: Path) -> tuple[bool, int, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("SRGAN_WEIGHTS_DIR", None)
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    last = proc.stderr.strip().splitlines()[-1].split()
    return last[0] == "TORCH_IMPORTED", int(last[1]), proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--version"], ["--help"], ["models"], ["models", "--json"],
                                  ["upscale", "--help"], ["eval", "--help"]])
def test_small_commands_do_not_import_torch(args: list[str], tmp_path: Path) -> None:
    torch_imported, code, out = _probe(args, tmp_path)
    assert code == 0 and out
    assert not torch_imported, f"srgan {' '.join(args)} imported torch"


@pytest.mark.slow
def test_models_lists_the_bundled_model_without_torch(tmp_path: Path) -> None:
    torch_imported, code, out = _probe(["models"], tmp_path)
    assert code == 0 and "srresnet_x4" in out and "x4" in out and not torch_imported


@pytest.mark.slow
def test_eval_bicubic_does_not_import_torch(tmp_path: Path) -> None:
    hr = tmp_path / "set"
    hr.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 24, 3), np.uint8)).save(hr / f"{i}.png")
    torch_imported, code, out = _probe(["eval", "--model", "bicubic", "-d", str(hr)], tmp_path)
    assert code == 0 and out.splitlines()[1].split()[:3] == ["set", "x4", "bicubic"], out
    assert not torch_imported


def test_import_srgan_cli_is_light() -> None:
    code = ("import sys, srgan_cli; srgan_cli.upscale; srgan_cli.load_model; "
            "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert out.strip() == "[]"
