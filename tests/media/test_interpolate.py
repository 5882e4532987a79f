"""`srgan export --interpolate A B --alpha X OUT`: network interpolation between two models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import RunCli

from srgan_cli.errors import ModelError, OutputError, UsageError
from srgan_cli.models.bundled import save_model
from srgan_cli.models.loading import load, load_srresnet
from srgan_cli.models.srresnet import SRResNet
from srgan_cli.models.state_dicts import blend_states


def _model(path: Path, seed: int, channels: int = 4) -> Path:
    torch.manual_seed(seed)
    save_model(SRResNet(scale=2, num_blocks=1, channels=channels), path, {"note": f"seed {seed}"})
    return path


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_srresnet(str(path)).state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("alpha", ["0", "1", "0.8"])
def test_blend_endpoints_exact_and_card(alpha: str, tmp_path: Path, run_cli: RunCli) -> None:
    a, b = _model(tmp_path / "a.safetensors", 1), _model(tmp_path / "b.safetensors", 2)
    out = tmp_path / "mix.safetensors"
    code, stdout, err = run_cli(["export", "--interpolate", str(a), str(b), "--alpha", alpha,
                                 str(out)])
    assert code == 0, err
    assert f"wrote {out}" in stdout
    got, sa, sb = _state(out), _state(a), _state(b)
    x = float(alpha)
    for k, v in got.items():
        if x == 0:
            assert torch.equal(v, sa[k]), k
        elif x == 1:
            assert torch.equal(v, sb[k]), k
        elif v.is_floating_point():
            assert torch.allclose(v, 0.2 * sa[k] + 0.8 * sb[k], atol=1e-6), k
    card = load(str(out)).card
    mix = card["interpolation"]
    assert mix["alpha"] == x and mix["a"]["name"] == "a" and mix["b"]["name"] == "b"
    assert mix["a"]["card"]["note"] == "seed 1" and mix["b"]["source"].endswith("b.safetensors")


@pytest.mark.slow
def test_blend_refusals(tmp_path: Path, run_cli: RunCli) -> None:
    a, b = _model(tmp_path / "a.safetensors", 1), _model(tmp_path / "b.safetensors", 2)
    wide = _model(tmp_path / "wide.safetensors", 3, channels=8)
    out = tmp_path / "mix.safetensors"

    def error(code: int, *args: str) -> str:
        got, _, err = run_cli(["export", *args])
        assert got == code, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        return lines[0]

    line = error(ModelError.exit_code, "--interpolate", str(a), str(wide), "--alpha", "0.5",
                 str(out))
    assert "not the same architecture" in line and "4 channels" in line and "8 channels" in line
    for bad in ("1.5", "-0.1", "nan", "inf"):
        assert "alpha must be in [0, 1]" in error(  # --alpha on the command line
            UsageError.exit_code, "--interpolate", str(a), str(b), "--alpha", bad, str(out))
    assert "needs --alpha" in error(UsageError.exit_code, "--interpolate", str(a), str(b),
                                    str(out))
    assert "bicubic is bicubic, not an srgan-cli SRResNet" in error(
        ModelError.exit_code, "--interpolate", str(a), "bicubic", "--alpha", "0.5", str(out))
    assert "exists" in error(OutputError.exit_code, "--interpolate", str(a), str(b), "--alpha",
                             "0.5", str(b))
    assert "--alpha goes with --interpolate" in error(UsageError.exit_code, str(a), str(out),
                                                      "--alpha", "0.5")
    assert not out.exists()


def test_blend_states_checks_layers() -> None:
    a = {"w": torch.zeros(2), "n": torch.tensor(3)}
    with pytest.raises(ValueError, match="different layers"):
        blend_states(a, {"w": torch.zeros(2)}, 0.5)
    with pytest.raises(ValueError, match="shape"):
        blend_states(a, {"w": torch.zeros(3), "n": torch.tensor(5)}, 0.5)
    mid = blend_states(a, {"w": torch.ones(2), "n": torch.tensor(5)}, 0.25)
    assert torch.equal(mid["w"], torch.full((2,), 0.25)) and int(mid["n"]) == 3
