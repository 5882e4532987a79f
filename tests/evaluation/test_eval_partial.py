"""A partial benchmark is never scored as if whole (found of expected, marked partial in the
table, JSON and CSV, refused for a model card), and `--device foo` is a usage error."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from srgan_cli.errors import DatasetError, UsageError
from srgan_cli.evaluation import report, scoring
from srgan_cli.evaluation.datasets import BenchmarkDataset, Sample
from srgan_cli.evaluation.evaluate import evaluate
from srgan_cli.evaluation.scoring import predictor
from srgan_cli.models.descriptor import bicubic


def _sample(i: int) -> Sample:
    hr = np.random.default_rng(i).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    return Sample(name=f"im{i}", hr=hr, lr=hr[::2, ::2].copy(), lr_source="bicubic")


class FakeSet(list[Sample]):
    """A known set with images missing, as datasets.BenchmarkDataset reports it."""

    name = "DIV2K-train"
    scale = 2

    def __init__(self, samples: list[Sample], **attrs: Any) -> None:
        super().__init__(samples)
        for k, v in attrs.items():
            setattr(self, k, v)


@pytest.mark.parametrize(
    ("attrs", "expected", "partial"),
    [({"expected": 800, "partial": True}, 800, True),
     ({"expected": 800}, 800, True),  # no `partial`: found < expected
     ({"expected": 1, "partial": False}, 1, False),
     ({}, None, False)],  # a plain folder: no known size
)
def test_evaluate_records_completeness(attrs: dict[str, Any], expected: int | None,
                                       partial: bool) -> None:
    r = evaluate(predictor(bicubic(2)), FakeSet([_sample(0)], **attrs), scale=2)
    assert (r.images_found, r.images_expected, r.partial) == (1, expected, partial)


def test_partial_set_in_table_json_and_csv() -> None:
    ds = FakeSet([_sample(0)], expected=800, partial=True)
    r = evaluate(predictor(bicubic(2)), ds, scale=2, model_name="bicubic")
    whole = evaluate(predictor(bicubic(2)), FakeSet([_sample(1)], expected=1, partial=False),
                     scale=2, model_name="bicubic", dataset_name="Set1")
    _, rows = report.table_rows([r, whole])
    assert rows[0][0] == "DIV2K-train x2 (1 of 800 images: partial)"
    assert rows[1][0] == "Set1 x2"
    _, per_image = report.table_rows([r], per_image=True)
    assert {row[0] for row in per_image} == {"DIV2K-train x2 (1 of 800 images: partial)"}

    summary = json.loads(report.to_json([r, whole], {}))["summary"]
    assert [(s["images_found"], s["images_expected"], s["partial"]) for s in summary] == [
        (1, 800, True), (1, 1, False)]
    rows_csv = list(csv.DictReader(io.StringIO(report.to_csv([r, whole], {}))))
    summaries = [x for x in rows_csv if x["record"] == "summary"]
    assert [(x["images_found"], x["images_expected"], x["partial"]) for x in summaries] == [
        ("1", "800", "True"), ("1", "1", "False")]


def _set5(root: Path, n: int) -> Path:
    for i in range(n):
        folder = root / "Set5" / "HR"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_sample(i).hr).save(folder / f"im{i}.png")
    return root


@pytest.mark.slow
def test_eval_cli_marks_a_partial_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from srgan_cli.cli.app import main

    monkeypatch.setattr(BenchmarkDataset, "expected", 5, raising=False)
    monkeypatch.setattr(BenchmarkDataset, "partial", True, raising=False)
    root = _set5(tmp_path / "data", 2)
    out_json = tmp_path / "r.json"
    main(["eval", "-m", "bicubic", "-d", "set5", "--scale", "2", "--device", "cpu",
          "--data-root", str(root), "--json", str(out_json)])
    out = capsys.readouterr().out
    assert "Set5 x2 (2 of 5 images: partial)" in out
    (s,) = json.loads(out_json.read_text())["summary"]
    assert (s["images_found"], s["images_expected"], s["partial"]) == (2, 5, True)


def test_a_model_card_refuses_a_partial_set(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli import load_model

    monkeypatch.setattr(BenchmarkDataset, "expected", 5, raising=False)
    root = _set5(tmp_path / "data", 2)
    with pytest.raises(DatasetError, match="only 2 of 5 images"):
        scoring.measure_model(load_model("bicubic", scale=2), ["set5"], data_root=root,
                              device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("command", [["eval", "-m", "bicubic"], ["train"],
                                     ["export", "nowhere", "x.safetensors"]])
def test_device_foo_exits_2(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from srgan_cli.cli.app import main

    with pytest.raises(SystemExit) as info:
        main([*command, "--device", "foo"])
    err = capsys.readouterr().err
    assert info.value.code == UsageError.exit_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "foo" in lines[0]
