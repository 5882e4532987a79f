"""`srgan export` on tiny training runs: weight choice, model card, output rules, --measure, and
the exported file working with `srgan upscale` and `srgan eval`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import RunCli, child_env, noise_pngs, one_torch_thread, umask
from PIL import Image

from srgan_cli.errors import CheckpointError, DatasetError, SrganError
from srgan_cli.evaluation.scoring import measure_model
from srgan_cli.models.loading import load, load_srresnet
from srgan_cli.training.checkpoint import load as load_checkpoint
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.export import export
from srgan_cli.training.loop import Trainer

TINY = dict(num_blocks=1, channels=8, scale=4, patch_size=32, batch_size=2, device="cpu")

pytestmark = pytest.mark.usefixtures("no_bundled_weights")


def _train(base: Path, name: str, **kw: Any) -> Path:
    """A 2-step run of a tiny generator; returns its run folder."""
    cfg = TrainConfig(**{**TINY, "run_dir": str(base / name), "cache_dir": str(base / "cache"),
                         "data": [str(base / "train")], "steps": 2, "log_every": 1,
                         "save_every": 100, **kw})
    cfg.validate()
    Trainer(cfg, log=lambda _msg: None, show_progress=False).fit()
    return base / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """"ema": a run with EMA (0.9) and best.pt from validation on Val/; "raw": no EMA, no val.
    Val/ (HR/ with two images) doubles as the --measure dataset."""
    base = tmp_path_factory.mktemp("export")
    noise_pngs(base / "train", 3, (40, 44))
    val = base / "Val"
    noise_pngs(val / "HR", 2, (24, 28), seed=10)
    with one_torch_thread():
        yield {
            "ema": _train(base, "run_ema", ema=0.9, val_every=2, val_data=str(val)),
            "raw": _train(base, "run_raw", ema=0.0, val_every=0),
            "val": val,
        }


def _weights(path: Path) -> dict[str, torch.Tensor]:
    module = load_srresnet(str(path))
    assert module is not None
    return module.state_dict()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _one_line_error(err: str) -> bool:
    return err.startswith("error: ") and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- which weights


def test_auto_picks_ema_when_present_and_raw_otherwise(runs: dict[str, Path],
                                                       tmp_path: Path) -> None:
    state = load_checkpoint(runs["ema"] / "last.pt")
    assert not _same(state["params_ema"], state["generator"])  # the test can tell them apart
    _, card = export(runs["ema"], tmp_path / "auto.safetensors")
    assert card["weights"] == "ema" and _same(_weights(tmp_path / "auto.safetensors"),
                                              state["params_ema"])
    _, card = export(runs["ema"], tmp_path / "raw.safetensors", weights="raw")
    assert card["weights"] == "raw" and _same(_weights(tmp_path / "raw.safetensors"),
                                              state["generator"])
    raw_state = load_checkpoint(runs["raw"] / "last.pt")
    assert raw_state["params_ema"] is None
    _, card = export(runs["raw"] / "last.pt", tmp_path / "noema.safetensors")  # a file works too
    assert card["weights"] == "raw" and _same(_weights(tmp_path / "noema.safetensors"),
                                              raw_state["generator"])


@pytest.mark.slow
def test_weights_ema_without_ema_is_a_one_line_checkpoint_error(
    runs: dict[str, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    out = tmp_path / "m.safetensors"
    code, _, err = run_cli(["export", str(runs["raw"]), str(out), "--weights", "ema"])
    assert code == CheckpointError.exit_code == 8
    assert _one_line_error(err) and "no EMA weights" in err and "last.pt" in err
    assert not out.exists()


@pytest.mark.slow
def test_weights_best_needs_a_run_folder_with_best_pt(
    runs: dict[str, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    out = tmp_path / "best.safetensors"
    code, stdout, err = run_cli(["export", str(runs["ema"]), str(out), "--weights", "best"])
    assert code == 0, err
    best = load_checkpoint(runs["ema"] / "best.pt")
    assert _same(_weights(out), best["generator"]) and "best weights" in stdout
    assert load(str(out)).card["weights"] == "best"

    code, _, err = run_cli(["export", str(runs["ema"] / "last.pt"), str(tmp_path / "f.safetensors"),
                         "--weights", "best"])
    assert code == 2 and _one_line_error(err) and "needs a run folder" in err
    code, _, err = run_cli(["export", str(runs["raw"]), str(tmp_path / "r.safetensors"),
                         "--weights", "best"])
    assert code == 8 and _one_line_error(err) and "no best.pt" in err
    code, _, err = run_cli(["export", str(runs["raw"]), str(tmp_path / "w.safetensors"),
                         "--weights", "newest"])
    assert code == 2 and "--weights must be one of" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.safetensors"]


# ----------------------------------------------------------------------------- model card


@pytest.mark.slow
def test_card_fields(runs: dict[str, Path], tmp_path: Path,
                     run_cli: RunCli) -> None:
    out = tmp_path / "tiny_x4.safetensors"
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    code, stdout, err = run_cli(
        ["export", str(runs["ema"]), str(out), "--card", "note=first try",
         "--card", "epochs=3", "--card", 'tags=["a", "b"]', "--card", "license=cc-by-4.0",
         "--card", "ratio=0.5", "--card", "flag=true"])
    assert code == 0, err
    assert stdout.strip() == (f"wrote {out} (x4, 1 blocks, 8 channels, ema weights, step 2)")
    model = load(str(out))
    card = model.card
    assert (model.name, model.scale) == ("tiny_x4", 4)
    assert (card["scale"], card["num_blocks"], card["channels"]) == (4, 1, 8)
    training = card["training"]
    assert training["stage"] == "psnr" and training["steps"] == 2
    assert training["data"] == ["train"]  # basenames, not the machine's paths
    assert (training["batch_size"], training["patch_size"], training["ema"]) == (2, 32, 0.9)
    assert (training["pixel_loss"], training["schedule"], training["seed"]) == (
        "mse", "auto", 0)
    assert training["content_loss"] is None  # a psnr run has no content loss
    assert training["lr"] == pytest.approx(1e-4)
    assert card["weights"] == "ema" and card["name"] == "tiny_x4"
    exported = dt.datetime.strptime(card["exported"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert before <= exported <= dt.datetime.now(dt.UTC)
    assert card["note"] == "first try" and card["epochs"] == 3 and card["tags"] == ["a", "b"]
    assert card["license"] == "cc-by-4.0" and card["ratio"] == 0.5 and card["flag"] is True
    assert "metrics" not in card

    code, _, err = run_cli(["export", str(runs["ema"]), str(tmp_path / "b.safetensors"),
                         "--card", "novalue"])
    assert code == 2 and _one_line_error(err) and "KEY=VALUE" in err
    code, _, err = run_cli(["export", str(runs["ema"]), str(tmp_path / "b.safetensors"),
                         "--card", "=x"])
    assert code == 2 and "non-empty KEY" in err
    code, _, err = run_cli(["export", str(runs["ema"]), str(tmp_path / "c.safetensors"),
                         "--card", "name=renamed"])
    assert code == 0 and load(str(tmp_path / "c.safetensors")).card["name"] == "renamed"


# ----------------------------------------------------------------------------- output file


def test_an_unknown_output_suffix_names_both_formats(tmp_path: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli(["export", str(tmp_path / "run"), str(tmp_path / "out.txt")])
    assert code == 4 and "out.txt: unknown output extension '.txt' (expected one of .onnx, " \
        ".safetensors)" in err


@pytest.mark.slow
def test_output_must_be_new_safetensors(runs: dict[str, Path], tmp_path: Path,
                                        run_cli: RunCli) -> None:
    code, _, err = run_cli(["export", str(runs["ema"]), str(tmp_path / "m.pt")])
    assert code == 4 and _one_line_error(err) and "(expected one of .onnx, .safetensors)" in err
    code, _, err = run_cli(["export", str(runs["ema"]), str(tmp_path / "no" / "m.safetensors")])
    assert code == 4 and "does not exist" in err

    out = tmp_path / "m.safetensors"
    out.write_bytes(b"keep me")
    code, _, err = run_cli(["export", str(runs["ema"]), str(out)])
    assert code == 4 and _one_line_error(err) and "exists; use --overwrite" in err
    assert out.read_bytes() == b"keep me"
    code, _, err = run_cli(["export", str(runs["ema"]), str(out), "--overwrite"])
    assert code == 0, err
    assert load(str(out)).card["weights"] == "ema"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp files
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask()


@pytest.mark.slow
def test_missing_source_is_a_checkpoint_error(tmp_path: Path,
                                              run_cli: RunCli) -> None:
    code, _, err = run_cli(["export", str(tmp_path / "nope"), str(tmp_path / "m.safetensors")])
    assert code == 8 and _one_line_error(err) and "not found" in err


@pytest.mark.slow
def test_subprocess_error_has_no_traceback(runs: dict[str, Path], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "srgan_cli", "export", str(runs["raw"]),
         str(tmp_path / "m.safetensors"), "--weights", "ema"],
        capture_output=True, text=True, timeout=120,
        env=child_env(),
    )
    assert proc.returncode == 8, proc.stderr
    assert "Traceback" not in proc.stderr and _one_line_error(proc.stderr)


# ----------------------------------------------------------------------------- using the file


@pytest.mark.slow
def test_upscale_with_the_exported_model(runs: dict[str, Path], tmp_path: Path,
                                         run_cli: RunCli,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "m.safetensors"
    export(runs["ema"], model)
    rng = np.random.default_rng(5)
    lr = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    Image.fromarray(lr).save(tmp_path / "in.png")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["upscale", "in.png", "out.png", "--model", str(model), "--device",
                         "cpu"])
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as im:
        sr = np.asarray(im.convert("RGB"))
    assert sr.shape == (36, 44, 3)
    # the file reproduces the run's EMA generator (upscale folds BatchNorm: +-1 rounding)
    trainer_ema = load_srresnet(str(runs["ema"] / "last.pt"))
    assert trainer_ema is not None
    with torch.no_grad():  # the plain, unfolded network on the whole image
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
        y = trainer_ema.eval()(x).clamp(0, 1).mul(255).round()
    want = y[0].permute(1, 2, 0).to(torch.uint8).numpy()
    assert np.abs(sr.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.slow
def test_measure_stores_what_eval_reports(runs: dict[str, Path], tmp_path: Path,
                                          run_cli: RunCli) -> None:
    out = tmp_path / "m.safetensors"
    val = runs["val"]
    code, stdout, err = run_cli(["export", str(runs["ema"]), str(out), "--measure", str(val),
                              "--device", "cpu"])
    assert code == 0, err
    metrics = load(str(out)).card["metrics"]
    assert list(metrics) == ["Val"]
    m = metrics["Val"]
    assert set(m) == {"psnr", "ssim", "scale", "images", "protocol"}
    assert (m["scale"], m["images"]) == (4, 2)
    assert "Y channel" in m["protocol"] and "crop 4" in m["protocol"]

    code, eval_out, err = run_cli(["eval", "--model", str(out), "--dataset", str(val), "--device",
                                "cpu", "--json", "-"])
    assert code == 0, err
    (summary,) = json.loads(eval_out)["summary"]
    assert summary["images"] == 2 and summary["failed"] == 0
    assert m["psnr"] == round(summary["mean_psnr"], 4)
    assert m["ssim"] == round(summary["mean_ssim"], 5)
    assert f"Val x4: PSNR {summary['mean_psnr']:.2f} dB" in stdout

    code, table, err = run_cli(["eval", "--model", str(out), "--dataset", str(val), "--device",
                             "cpu"])
    assert code == 0, err
    assert f"{summary['mean_psnr']:.2f}" in table and f"{summary['mean_ssim']:.4f}" in table
    # the library takes the file too, and gives the same numbers
    assert measure_model(out, [str(val)], device="cpu") == metrics


@pytest.mark.slow
def test_measure_failure_writes_nothing(runs: dict[str, Path], tmp_path: Path,
                                        run_cli: RunCli) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    out = folder / "m.safetensors"
    code, _, err = run_cli(["export", str(runs["ema"]), str(out), "--measure", str(runs["val"]),
                         "--measure", str(tmp_path / "nowhere"), "--device", "cpu"])
    assert code == DatasetError.exit_code == 6
    assert _one_line_error(err) and "nowhere" in err
    assert list(folder.iterdir()) == []  # no model without its metrics, no temp file

    bad = tmp_path / "Bad" / "HR"
    noise_pngs(bad, 2, (24, 28), seed=20)
    data = (bad / "1.png").read_bytes()
    (bad / "1.png").write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(["export", str(runs["ema"]), str(out), "--measure", str(bad.parent),
                         "--device", "cpu"])
    assert code == SrganError.exit_code == 1
    assert _one_line_error(err) and "1.png: cannot read image" in err
    assert list(folder.iterdir()) == []

    # the rerun needs no --overwrite
    code, _, err = run_cli(["export", str(runs["ema"]), str(out), "--measure", str(runs["val"]),
                         "--device", "cpu"])
    assert code == 0, err
    assert "Val" in load(str(out)).card["metrics"]
