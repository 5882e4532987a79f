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


def _card_summary(text: str) -> dict[str, object]:
    return {"name": "m", "source": "m.safetensors", "architecture": "SRResNet", "scale": 4,
            "parameters": 10, "tiling": {"exact": True, "pad": 9}, "precisions": ["fp32"],
            "multiple_of": 1, "min_size": 0,
            "card": {"description": text, "metrics": {"Set5": {"psnr": 30.85}}}}


def test_describe_shows_every_card_value_whole_and_wrapped() -> None:
    from srgan_cli.cli.models_cmd import describe_lines

    text = " ".join(f"word{i}" for i in range(40))
    lines = describe_lines(_card_summary(text))
    assert f"card.description: {text}" in lines
    assert 'card.metrics: {"Set5": {"psnr": 30.85}}' in lines
    wrapped = describe_lines(_card_summary(text), width=60)
    start = wrapped.index(next(x for x in wrapped if x.startswith("card.description: ")))
    end = wrapped.index(next(x for x in wrapped if x.startswith("card.metrics: ")))
    card = wrapped[start:end]
    assert len(card) > 1 and all(len(line) <= 60 for line in card)
    assert all(line.startswith(" " * len("card.description: ")) for line in card[1:])
    assert " ".join(line.strip() for line in card) == f"card.description: {text}"


def test_model_list_shows_the_whole_card() -> None:
    from srgan_cli.cli.models_cmd import _cells

    card = {f"k{i}": "v" * 80 for i in range(5)}
    row = {"name": "m", "path": "m.safetensors", "scale": 4, "num_blocks": 1, "channels": 4,
           "size_bytes": 10, "default": False, "card": card, "error": None}
    details = _cells(row)[-1]
    assert all(f"k{i}={'v' * 80}" in details for i in range(5)) and "…" not in details
