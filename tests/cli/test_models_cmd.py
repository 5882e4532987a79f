"""`srgan models MODEL`: what a file is, as text and --json; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from model_families import families

from srgan_cli.cli.app import main
from srgan_cli.errors import ModelError


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


@pytest.mark.slow
def test_describe_a_foreign_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = families()["compact"][0]
    path = tmp_path / "realesr-general-x4v3.pth"
    torch.save({"params": state}, path)
    code, out, err = run(["models", str(path)], capsys)
    assert code == 0, err
    assert "architecture: Compact" in out and "scale:        x4" in out
    assert "tiling:       exact (receptive radius" in out
    assert "precisions:   bf16, fp16, fp32" in out
    code, out, _ = run(["models", str(path), "--json"], capsys)
    data = json.loads(out)
    assert (data["architecture"], data["scale"], data["tiling"]["exact"]) == ("Compact", 4, True)
    assert data["parameters"] == sum(v.numel() for v in state.values())
    assert data["card"]["loaded_by"] == "spandrel"


@pytest.mark.slow
def test_describe_bicubic_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models", "bicubic"], capsys)
    assert code == 0 and "architecture: bicubic" in out and "exact" in out
    (tmp_path / "junk.pth").write_bytes(b"garbage")
    code, out, err = run(["models", str(tmp_path / "junk.pth")], capsys)
    assert code == ModelError.exit_code and out == ""
    assert err.count("\n") == 1 and "junk.pth: refusing to load" in err
