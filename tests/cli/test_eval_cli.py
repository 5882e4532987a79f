"""`srgan eval` end to end on tiny datasets, and the pure formatting in report.py."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import RunCli, save, smooth, tiny_set5, umask
from PIL import Image

from srgan_cli.evaluation import report
from srgan_cli.evaluation.datasets import Sample, open_dataset
from srgan_cli.evaluation.evaluate import EvalResult, ImageScore, evaluate
from srgan_cli.evaluation.scoring import predictor
from srgan_cli.media.resize import imresize, modcrop
from srgan_cli.models.descriptor import bicubic


@pytest.fixture
def root(tmp_path: Path, no_bundled_weights: None) -> Path:
    """A benchmark root with Set5 (3 tiny images, shipped x2 LR) and no bundled weights."""
    return tiny_set5(tmp_path / "data", [(30, 34), (36, 28), (32, 32)])


def _tiny_model(path: Path, scale: int) -> Path:
    import torch

    from srgan_cli.models.bundled import save_model
    from srgan_cli.models.srresnet import SRResNet

    torch.manual_seed(0)
    save_model(SRResNet(scale=scale, num_blocks=1, channels=4), path, {"note": "test"})
    return path


def test_bicubic_table_and_json(root: Path, tmp_path: Path,
                                run_cli: RunCli) -> None:
    out_json = tmp_path / "r.json"
    code, out, err = run_cli(["eval", "-m", "bicubic", "-d", "set5", "--scale", "2",
                           "--data-root", str(root), "--json", str(out_json)])
    assert code == 0, err
    expected = evaluate(predictor(bicubic(2)), open_dataset("set5", 2, data_root=root), scale=2)
    header, row = (line.split() for line in out.splitlines()[:2])
    assert header == ["dataset", "model", "PSNR", "SSIM", "s/img"] and "\x1b" not in out
    assert row[:2] == ["Set5", "x2"] and "bicubic" in row
    assert f"{expected.mean_psnr:.2f}" in out and f"{expected.mean_ssim:.4f}" in out
    doc = json.loads(out_json.read_text())
    assert set(doc["versions"]) == {"srgan-cli", "torch", "numpy", "scikit-image"}
    (summary,) = doc["summary"]
    assert (summary["model"], summary["dataset"], summary["scale"]) == ("bicubic", "Set5", 2)
    assert summary["mean_psnr"] == pytest.approx(expected.mean_psnr, abs=1e-12)
    assert summary["mean_ssim"] == pytest.approx(expected.mean_ssim, abs=1e-12)
    assert summary["protocol"]["crop_border"] == 2 and summary["protocol"]["y_channel"] is True
    assert summary["protocol"]["ssim"]["sigma"] == 1.5
    assert [r["image"] for r in doc["images"]] == ["im0", "im1", "im2"]
    assert [r["psnr"] for r in doc["images"]] == pytest.approx(
        [s.psnr for s in expected.images], abs=1e-12)


def test_json_to_stdout_csv_per_image_and_options(root: Path, tmp_path: Path,
                                                  run_cli: RunCli) -> None:
    out_csv = tmp_path / "r.csv"
    code, out, err = run_cli(["eval", "-m", "bicubic", "--data-root", str(root), "-s", "2",
                           "--rgb", "--crop-border", "3", "--per-image", "--json", "-",
                           "--csv", str(out_csv)])
    assert code == 0, err
    doc = json.loads(out)  # stdout is pure JSON; the table went to stderr
    assert "im1" in err and "mean" in err
    protocol = doc["summary"][0]["protocol"]
    assert protocol["y_channel"] is False and protocol["crop_border"] == 3
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [r["record"] for r in rows] == ["image"] * 3 + ["summary"]
    assert rows[-1]["images"] == "3" and rows[0]["crop_border"] == "3"
    assert rows[0]["y_channel"] == "False" and rows[0]["scikit_image"]
    assert float(rows[0]["psnr"]) == pytest.approx(doc["images"][0]["psnr"])


def test_two_models_side_by_side_and_saved_images(root: Path, tmp_path: Path,
                                                  run_cli: RunCli) -> None:
    model = _tiny_model(tmp_path / "tiny_x2.safetensors", 2)
    saved = tmp_path / "sr"
    code, out, err = run_cli(["eval", "-m", "bicubic", "-m", str(model), "--device", "cpu",
                           "--data-root", str(root), "--save-images", str(saved), "--wide"])
    assert code == 0, err
    header = out.splitlines()[0]
    assert "bicubic PSNR" in header and "tiny_x2 PSNR" in header and "Set5 x2" in out
    for name in ("bicubic", "tiny_x2"):
        files = sorted(p.name for p in (saved / name / "Set5_x2").iterdir())
        assert files == ["im0.png", "im1.png", "im2.png"]
    with Image.open(saved / "tiny_x2" / "Set5_x2" / "im0.png") as im:
        assert im.size == (34, 30)


@pytest.fixture
def as_flags() -> Iterator[None]:
    """Options in messages shown as the command line shows them (`--crop-border`)."""
    from srgan_cli.messages import options_as_flags

    old = options_as_flags(True)
    yield
    options_as_flags(old)


def test_images_too_small_for_the_crop_are_refused_up_front(tmp_path: Path, run_cli: RunCli,
                                                             as_flags: None) -> None:
    folder = tmp_path / "mixed"
    save(folder / "big.png", smooth(40, 40, 1))
    for i in range(40):  # 16 - 2*4 = 8 < 11: SSIM cannot be computed
        save(folder / f"small{i:02d}.png", smooth(16, 16, 2 + i))
    out_json = tmp_path / "r.json"
    code, out, err = run_cli(["eval", "-m", "bicubic", "-d", str(folder), "-s", "2",
                           "--crop-border", "4", "--json", str(out_json)])
    assert code == 6 and out == ""
    assert err.strip().splitlines() == [
        "error: mixed: 40 of 41 images are too small to score (such as small00.png, 16x16): "
        "at x2 with 4 px cropped from each edge, SSIM needs 11x11 px left, so at least 20x20; "
        "remove them or lower --crop-border"]
    assert not out_json.exists()
    for name in (f"small{i:02d}.png" for i in range(40)):
        (folder / name).unlink()
    code, out, err = run_cli(["eval", "-m", "bicubic", "-d", str(folder), "-s", "2",
                           "--crop-border", "4"])
    assert code == 0, err


def test_failed_images_exit_with_their_errors_code_and_no_class_name(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.evaluation import scoring

    folder = tmp_path / "set"
    for i in range(2):
        save(folder / f"im{i}.png", smooth(28, 30, 10 + i))

    def failing(model: object, protocol: object, device: str) -> object:
        def predict(lr: object) -> object:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB\nmore text")
        return predict

    monkeypatch.setattr(scoring, "predictor", failing)
    out_json = tmp_path / "r.json"
    code, _, err = run_cli(["eval", "-m", "bicubic", "-d", str(folder), "-s", "2",
                           "--json", str(out_json)])
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: 2 images failed: bicubic/set/im0: CUDA out of memory. Tried")
    assert "RuntimeError" not in err + out_json.read_text()


@pytest.mark.slow
def test_unreadable_image_is_a_failed_image_not_the_end(tmp_path: Path,
                                                        run_cli: RunCli) -> None:
    folder = tmp_path / "mixed"
    for i in range(3):
        save(folder / f"im{i}.png", smooth(28, 30, 10 + i))
    data = (folder / "im1.png").read_bytes()
    (folder / "im1.png").write_bytes(data[: len(data) // 2])  # header intact, pixels cut
    model = _tiny_model(tmp_path / "tiny_x2.safetensors", 2)
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    code, out, err = run_cli(["eval", "-m", "bicubic", "-m", str(model), "-d", str(folder),
                           "--device", "cpu", "--json", str(out_json), "--csv", str(out_csv)])
    assert code == 3  # an image that does not decode: the input-image code
    assert err.startswith("error: 2 images failed: bicubic/mixed/im1: ")
    assert "tiny_x2/mixed/im1: " in err and "im1.png: cannot read image" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    table = [line.split() for line in out.splitlines()[1:3]]  # the table is still printed
    assert [r[:3] for r in table] == [["mixed", "x2", "bicubic"], ["mixed", "x2", "tiny_x2"]]
    doc = json.loads(out_json.read_text())
    assert [(s["model"], s["images"], s["failed"]) for s in doc["summary"]] == [
        ("bicubic", 3, 1), ("tiny_x2", 3, 1)]
    good = [s for s in doc["images"] if s["error"] is None]
    assert [s["image"] for s in good] == ["im0", "im2"] * 2
    readable = [s for s in open_dataset(str(folder), 2).load_all() if isinstance(s, Sample)]
    baseline = evaluate(predictor(bicubic(2)), readable, scale=2)
    assert doc["summary"][0]["mean_psnr"] == pytest.approx(baseline.mean_psnr, abs=1e-12)
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [r["record"] for r in rows] == ["image"] * 6 + ["summary"] * 2
    assert "cannot read image" in rows[1]["error"]


def test_report_write_interrupted_leaves_no_temp_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.cli import eval_cmd

    def interrupted(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        eval_cmd._write_text_atomic(str(tmp_path / "x.json"), "{}")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    eval_cmd._write_text_atomic(str(tmp_path / "x.json"), "{}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~umask()


@pytest.mark.slow
def test_div2k_layout_equals_plain_folder(tmp_path: Path,
                                          run_cli: RunCli) -> None:
    names = ["0801", "0802", "0803"]
    for with_lr in (False, True):
        data = tmp_path / f"lr{with_lr}"
        for i, name in enumerate(names):
            hr = smooth(26 + 2 * i, 30, 40 + i)
            save(data / "DIV2K" / "DIV2K_valid_HR" / f"{name}.png", hr)
            if with_lr:
                save(data / "DIV2K" / "DIV2K_valid_LR_bicubic" / "X2" / f"{name}x2.png",
                      imresize(modcrop(hr, 2), 0.5))
        docs = []
        for spec in ("div2k", str(data / "DIV2K" / "DIV2K_valid_HR")):
            code, out, err = run_cli(["eval", "-m", "bicubic", "-d", spec, "-s", "2",
                                   "--data-root", str(data), "--json", "-"])
            assert code == 0, err
            docs.append(json.loads(out))
        div2k, plain = docs
        assert div2k["summary"][0]["dataset"] == "DIV2K"
        assert [r["image"] for r in div2k["images"]] == names
        for key in ("psnr", "ssim"):
            assert [r[key] for r in div2k["images"]] == [r[key] for r in plain["images"]]
        assert div2k["summary"][0]["mean_psnr"] == plain["summary"][0]["mean_psnr"]


@pytest.mark.slow
def test_default_model_is_bicubic_without_weights(root: Path,
                                                  run_cli: RunCli) -> None:
    code, out, err = run_cli(["eval", "--data-root", str(root), "--regenerate-lr"])
    assert code == 0, err  # no --scale: bicubic defaults to x4
    assert out.splitlines()[0].split()[:3] == ["dataset", "model", "PSNR"], out
    assert "Set5 x4" in out and "bicubic" in out.splitlines()[1]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["-d", "set14"], 6, "Set14 folder under"),
        (["-m", "nosuchmodel"], 5, "unknown model"),
        (["--crop-border", "-1"], 2, "--crop-border must be >= 0"),
        (["--json", "/nonexistent-dir/x.json"], 4, "does not exist"),
        (["-d", "set5", "--split", "train"], 2, "div2k only"),
    ],
)
def test_bad_input_is_one_line_with_exit_code(
    root: Path, args: list[str], code: int, needle: str, run_cli: RunCli
) -> None:
    got, out, err = run_cli(["eval", "--data-root", str(root), "-s", "2", *args])
    assert got == code and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_model_of_other_scale_is_refused(root: Path, tmp_path: Path,
                                         run_cli: RunCli) -> None:
    model = _tiny_model(tmp_path / "tiny_x4.safetensors", 4)
    code, _, err = run_cli(["eval", "-m", str(model), "-s", "2", "--data-root", str(root)])
    assert code == 5 and "x4" in err


@pytest.mark.slow
def test_subprocess_error_has_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "SRGAN_WEIGHTS_DIR": str(tmp_path), "SRGAN_DATA": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "srgan_cli", "eval", "-m", "bicubic"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 6
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "data/README.md" in proc.stderr


# ----------------------------------------------------------------------------- report.py


def _results() -> list[EvalResult]:
    def res(model: str, scores: list[ImageScore], mean_psnr: float) -> EvalResult:
        return EvalResult(model, "Set5", 4, 4, True, scores, mean_psnr, 0.8, 0.25)

    a = [ImageScore("x", 30.0, 0.9, 0.2), ImageScore("y", math.inf, 1.0, 0.3)]
    b = [ImageScore("x", 31.5, 0.91, 0.5), ImageScore("y", math.nan, math.nan, 0.1, "Boom: no")]
    return [res("m1", a, math.inf), res("m2", b, 31.5)]


def test_report_json_marks_infinite_psnr_as_null_with_flag() -> None:
    doc = json.loads(report.to_json(_results(), {"srgan-cli": "0"}))
    s1, s2 = doc["summary"]
    assert s1["mean_psnr"] is None and s1["psnr_infinite"] is True
    assert s2["mean_psnr"] == 31.5 and s2["psnr_infinite"] is False and s2["failed"] == 1
    y1, y2 = doc["images"][1], doc["images"][3]
    assert (y1["psnr"], y1["psnr_infinite"]) == (None, True)
    assert (y2["psnr"], y2["psnr_infinite"], y2["error"]) == (None, False, "Boom: no")


def test_report_csv_rows() -> None:
    rows = list(csv.DictReader(io.StringIO(report.to_csv(_results(), {"torch": "9"}))))
    assert len(rows) == 6 and rows[0]["torch"] == "9"
    assert rows[1]["psnr"] == "" and rows[1]["psnr_infinite"] == "True"
    assert rows[4]["record"] == "summary" and rows[4]["psnr"] == ""
    assert rows[5]["psnr"] == "31.5" and rows[5]["failed"] == "1"


def test_report_table_side_by_side() -> None:
    header, rows = report.table_rows(_results())
    assert header == ["dataset", "m1 PSNR", "m1 SSIM", "m1 s/img", "m2 PSNR", "m2 SSIM",
                      "m2 s/img"]
    assert rows == [["Set5 x4", "inf", "0.8000", "0.250", "31.50", "0.8000", "0.250"]]
    header, rows = report.table_rows(_results(), per_image=True)
    assert header[1] == "image" and [r[1] for r in rows] == ["x", "y", "mean"]
    assert rows[1][2:8] == ["inf", "1.0000", "0.300", "failed", "failed", "0.100"]
    text = report.text_table(header, rows)
    assert text.splitlines()[0].startswith("dataset  image") and len(text.splitlines()) == 4
    assert report.failure_message(_results()) == "1 image failed: m2/Set5/y: Boom: no"
    assert report.failure_message(_results()[:1]) is None


def test_report_table_one_row_per_dataset_and_model() -> None:
    header, rows = report.table_rows(_results(), wide=False)
    assert header == ["dataset", "model", "PSNR", "SSIM", "s/img"]
    assert rows == [["Set5 x4", "m1", "inf", "0.8000", "0.250"],
                    ["Set5 x4", "m2", "31.50", "0.8000", "0.250"]]
    header, rows = report.table_rows(_results(), per_image=True, wide=False)
    assert header[:3] == ["dataset", "model", "image"]
    assert [r[1:3] for r in rows] == [["m1", "x"], ["m1", "y"], ["m1", "mean"], ["m2", "x"],
                                      ["m2", "y"], ["m2", "mean"]]
    assert rows[4][3:] == ["failed", "failed", "0.100"]
    text = report.text_table(header, rows).splitlines()
    assert text[0].split() == header and max(map(len, text)) <= 80


# ----------------------------------------------------------------------------- outputs


def _eval(run_cli: RunCli, root: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(["eval", "-m", "bicubic", "-s", "2", "--data-root", str(root), *args])


def test_existing_json_and_csv_need_overwrite(root: Path, tmp_path: Path,
                                              run_cli: RunCli) -> None:
    for option in ("--json", "--csv"):
        target = tmp_path / f"old{option[2:]}"
        target.write_text("mine\n")
        code, out, err = _eval(run_cli, root, option, str(target))
        assert code == 4 and err.strip() == f"error: {target}: exists; use --overwrite", err
        assert out == "" and target.read_text() == "mine\n"
        code, _, err = _eval(run_cli, root, option, str(target), "--overwrite")
        assert code == 0, err
        assert target.read_text() != "mine\n"
    code, _, err = _eval(run_cli, root, "--json", str(tmp_path / "a"), "--csv",
                         str(tmp_path / "." / "a"))
    assert code == 2 and "--json and --csv name the same file" in err


def test_a_dataset_file_is_never_an_output(root: Path, run_cli: RunCli) -> None:
    image = root / "Set5" / "HR" / "im1.png"
    lr = root / "Set5" / "LR_bicubic" / "X2" / "im1x2.png"
    before = image.read_bytes(), lr.read_bytes()
    for args in (["--csv", str(image), "--overwrite"], ["--json", str(lr), "--overwrite"],
                 ["--csv", str(image)]):
        code, out, err = _eval(run_cli, root, *args)
        assert code == 4 and out == "" and len(err.strip().splitlines()) == 1, err
        assert (image.read_bytes(), lr.read_bytes()) == before
    assert "is a file of the dataset Set5; give another name" in _eval(
        run_cli, root, "--csv", str(image), "--overwrite")[2]


def test_existing_saved_image_needs_overwrite_before_any_model_runs(
        root: Path, tmp_path: Path, run_cli: RunCli) -> None:
    saved = tmp_path / "sr"
    folder = saved / "bicubic" / "Set5_x2"
    folder.mkdir(parents=True)
    (folder / "im2.png").write_bytes(b"mine")
    code, out, err = _eval(run_cli, root, "--save-images", str(saved))
    assert code == 4 and out == ""
    assert err.strip() == f"error: {folder / 'im2.png'}: exists; use --overwrite"
    assert sorted(p.name for p in folder.iterdir()) == ["im2.png"]  # nothing scored
    assert (folder / "im2.png").read_bytes() == b"mine"
    code, _, err = _eval(run_cli, root, "--save-images", str(saved), "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["im0.png", "im1.png", "im2.png"]
    with Image.open(folder / "im2.png") as im:
        assert im.size == (32, 32)


def test_existing_report_needs_overwrite_and_is_replaced_whole(
        root: Path, tmp_path: Path, run_cli: RunCli, as_flags: None) -> None:
    out = tmp_path / "report"
    code, _, err = _eval(run_cli, root, "--report", str(out))
    assert code == 0, err
    (out / "images" / "stale").mkdir()
    code, _, err = _eval(run_cli, root, "--report", str(out))
    assert code == 4 and err.strip() == f"error: --report {out}: exists; use --overwrite", err
    assert (out / "images" / "stale").is_dir()
    code, _, err = _eval(run_cli, root, "--report", str(out), "--overwrite")
    assert code == 0, err
    assert (out / "index.html").is_file() and not (out / "images" / "stale").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "report"]  # no temp left
    (out / "notes.txt").write_text("mine")  # not only a report any more: never replaced
    code, _, err = _eval(run_cli, root, "--report", str(out), "--overwrite")
    assert code == 4 and "exists and is not an empty folder" in err
    assert (out / "notes.txt").read_text() == "mine"
    code, _, err = _eval(run_cli, root, "--report", str(tmp_path / "r2"), "--save-images",
                         str(tmp_path / "r2" / "sr"))
    assert code == 2 and "separate folders" in err


def test_ambiguous_names_and_same_named_datasets(tmp_path: Path, run_cli: RunCli) -> None:
    for i, folder in enumerate((tmp_path / "x" / "HR", tmp_path / "y" / "HR")):
        save(folder / "a.png", smooth(24, 24, i))
    code, out, err = run_cli(["eval", "-m", "bicubic", "-s", "2", "-d", str(tmp_path / "x/HR"),
                              "-d", str(tmp_path / "y/HR"), "--per-image", "--json", "-"])
    assert code == 0, err
    doc = json.loads(out)
    assert [s["dataset"] for s in doc["summary"]] == ["HR", "HR#2"]
    assert doc["images"][0]["psnr"] != doc["images"][1]["psnr"]
    save(tmp_path / "x" / "HR" / "a.jpg", smooth(24, 24, 5))
    code, out, err = run_cli(["eval", "-m", "bicubic", "-s", "2", "-d", str(tmp_path / "x"),
                              "--per-image"])
    assert code == 6 and out == "" and len(err.strip().splitlines()) == 1
    assert "names differ only in extension or case (a.jpg, a.png)" in err


def test_a_report_file_made_during_the_run_is_not_replaced(tmp_path: Path) -> None:
    from srgan_cli.cli import eval_cmd
    from srgan_cli.errors import OutputError

    target = tmp_path / "r.json"
    target.write_text("written by another program meanwhile")
    with pytest.raises(OutputError, match="exists"):
        eval_cmd._write_text_atomic(str(target), "{}", overwrite=False)
    assert target.read_text() == "written by another program meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
