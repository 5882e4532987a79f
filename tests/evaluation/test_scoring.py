"""The one scoring path: `score` on a dataset spec or an opened dataset, protocols, and the proof
that `srgan eval`, training validation and `export --measure` all go through it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from helpers import noise_pngs, one_torch_thread

from srgan_cli.evaluation import scoring
from srgan_cli.evaluation.datasets import open_dataset
from srgan_cli.evaluation.evaluate import EvalResult, evaluate
from srgan_cli.media.resize import imresize
from srgan_cli.models.loading import load
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.loop import Trainer


@pytest.fixture
def val(tmp_path: Path) -> Path:
    folder = tmp_path / "Val"
    noise_pngs(folder / "HR", 2, (24, 28))
    return folder


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every call of scoring.score, as (model name, dataset name); the real one still runs."""
    calls: list[tuple[str, str]] = []
    real = scoring.score

    def score(model: Any, dataset: Any, *a: Any, **kw: Any) -> EvalResult:
        result = real(model, dataset, *a, **kw)
        calls.append((model.name, result.dataset))
        return result

    monkeypatch.setattr(scoring, "score", score)
    return calls


def test_score_bicubic_on_a_spec_is_evaluate_of_matlab_bicubic(val: Path) -> None:
    model = load("bicubic", scale=4)
    got = scoring.score(model, str(val), device="cpu")
    want = evaluate(lambda lr: imresize(lr, 4), open_dataset(str(val), 4), scale=4)
    assert got.model == "bicubic" and got.dataset == want.dataset and len(got.images) == 2
    assert got.mean_psnr == want.mean_psnr and got.mean_ssim == want.mean_ssim
    # the protocol is applied: another border and RGB give other numbers, and say so
    rgb = scoring.score(model, open_dataset(str(val), 4),
                        scoring.EvalProtocol(crop_border=0, y_channel=False), device="cpu")
    assert rgb.crop_border == 0 and not rgb.y_channel and rgb.mean_psnr != got.mean_psnr


def test_open_datasets_opens_each_once_and_fails_before_scoring(val: Path,
                                                                tmp_path: Path) -> None:
    from srgan_cli.errors import DatasetError

    assert [d.name for d in scoring.open_datasets([str(val), str(val)], 4)] == ["Val"]
    with pytest.raises(DatasetError, match="nowhere"):
        scoring.open_datasets([str(val), str(tmp_path / "nowhere")], 4)


@pytest.mark.slow
def test_eval_validation_and_export_measure_share_score(
    val: Path, tmp_path: Path, spy: list[tuple[str, str]]) -> None:
    from srgan_cli.cli.app import main
    from srgan_cli.training.export import export

    # srgan eval
    out = tmp_path / "eval.json"
    main(["eval", "-m", "bicubic", "-d", str(val), "--device", "cpu", "--json", str(out)])
    assert spy == [("bicubic", "Val")]
    assert json.loads(out.read_text())  # the report was written from the scored result

    # training validation
    with one_torch_thread():
        cfg = TrainConfig(num_blocks=1, channels=8, scale=4, patch_size=32, batch_size=2,
                          device="cpu", data=[str(tmp_path / "unused")], val_data=str(val),
                          run_dir=str(tmp_path / "run"), ema=0.5)
        cfg.validate()
        t = Trainer(cfg, log=lambda _m: None, show_progress=False)
        scores = t.validate()
        assert scores is not None and math.isfinite(scores["val_psnr"])
        assert spy[-1] == ("train", "Val")
        t.save_checkpoint()

        # export --measure
        _, card = export(tmp_path / "run", tmp_path / "m.safetensors", measure=[str(val)],
                         device="cpu")
    assert spy[-1] == ("m", "Val") and len(spy) == 3
    # validation and --measure scored the same (EMA) weights the same way
    assert card["metrics"]["Val"]["psnr"] == pytest.approx(scores["val_psnr"], abs=1e-4)


def test_images_too_small_for_lpips_are_refused_before_any_work(tmp_path: Path) -> None:
    from srgan_cli.errors import DatasetError

    folder = noise_pngs(tmp_path / "Small", 2, (32, 32))  # SSIM fits; LPIPS (alex) needs 31+4
    ds = open_dataset(str(folder), 2)
    scoring.check_scorable([ds], scoring.EvalProtocol(metrics=("psnr", "ssim")))
    for net, side in (("alex", 36), ("vgg", None)):
        protocol = scoring.EvalProtocol(metrics=("psnr", "lpips"), lpips_net=net)
        if side is None:  # vgg takes 16 px: SSIM's window is the bound, and it fits
            scoring.check_scorable([ds], protocol)
            continue
        with pytest.raises(DatasetError, match=r"^Small: 2 of 2 images are too small to score "
                           r"\(such as 0.png, 32x32\): at x2 with 2 px cropped from each edge, "
                           rf"LPIPS needs 31x31 px left, so at least {side}x{side}; "):
            scoring.check_scorable([ds], protocol)
