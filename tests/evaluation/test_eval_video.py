"""`srgan eval --dataset VIDEO|FOLDER_OF_VIDEOS`: per-video and mean scores plus temporal PSNR."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import RunCli, save, smooth
from media_builders import make_clip

from srgan_cli.errors import DatasetError, UsageError
from srgan_cli.evaluation import report, video_scores
from srgan_cli.evaluation.evaluate import EvalResult, ImageScore, evaluate_videos
from srgan_cli.media import discovery
from srgan_cli.media.resize import imresize

W, H = 48, 40  # frames large enough to score at x2 (border + SSIM window)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_bundled_weights: None) -> None:
    monkeypatch.chdir(tmp_path)


def bicubic_x2(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [imresize(f, 2) for f in frames]


def test_video_set_discovery(tmp_path: Path) -> None:
    d = tmp_path / "vids"
    d.mkdir()
    make_clip(d / "b.mp4", audio=None, n=2, w=W, h=H)
    make_clip(d / "a.mkv", audio=None, n=2, w=W, h=H)
    assert discovery.video_set(d) == [d / "a.mkv", d / "b.mp4"]
    assert discovery.video_set(d / "a.mkv") == [d / "a.mkv"]
    imgs = tmp_path / "imgs"
    save(imgs / "x.png", smooth(20, 20, 0))
    assert discovery.video_set(imgs) is None and discovery.video_set("set5") is None
    with pytest.raises(DatasetError, match="no such video file"):
        discovery.video_set(tmp_path / "gone.mp4")


def test_evaluate_videos_matches_evaluate_video(tmp_path: Path) -> None:
    make_clip(tmp_path / "a.mp4", audio=None, w=W, h=H)
    (tmp_path / "bad.mp4").write_bytes(b"junk" * 50)
    seen: list[ImageScore] = []
    r = evaluate_videos(bicubic_x2, [tmp_path / "a.mp4", tmp_path / "bad.mp4"], scale=2,
                        max_frames=4, model_name="bicubic", dataset_name="set",
                        on_video=seen.append)
    one = video_scores.evaluate_video(tmp_path / "a.mp4", bicubic_x2, 2, max_frames=4)
    good, bad = r.images
    assert (good.psnr, good.ssim, good.frames, good.temporal_psnr) == (
        one.psnr, one.ssim, 4, one.temporal_psnr)
    assert not bad.ok and "bad.mp4" in (bad.error or "") and "\n" not in (bad.error or "")
    assert r.videos and r.mean_psnr == good.psnr and r.temporal_psnr == one.temporal_psnr
    assert seen == r.images


@pytest.mark.slow
def test_eval_cli_folder_of_videos(tmp_path: Path, run_cli: RunCli) -> None:
    d = tmp_path / "vids"
    d.mkdir()
    make_clip(d / "a.mp4", audio=None, w=W, h=H)
    make_clip(d / "b.mp4", audio=None, w=W, h=H, n=3)
    code, out, err = run_cli(["eval", "-m", "bicubic", "-d", "vids", "-s", "2",
                              "--max-frames", "5", "--per-image", "--json", "r.json",
                              "--csv", "r.csv"])
    assert code == 0, err
    assert out.splitlines()[0].split()[-1] == "tPSNR" and "model" in out.splitlines()[0]
    assert any("a.mp4" in line.split() for line in out.splitlines()[1:])
    doc = json.loads((tmp_path / "r.json").read_text())
    a, b = doc["images"]
    assert (a["image"], a["frames"], b["frames"]) == ("a.mp4", 5, 3)
    assert a["temporal_psnr"] > 20
    (summary,) = doc["summary"]
    assert summary["images"] == 2 and summary["frames"] == 8
    assert summary["mean_psnr"] == pytest.approx((a["psnr"] + b["psnr"]) / 2)
    assert summary["temporal_psnr"] == pytest.approx((a["temporal_psnr"]
                                                      + b["temporal_psnr"]) / 2)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert [r["record"] for r in rows] == ["image", "image", "summary"]
    assert rows[0]["frames"] == "5" and float(rows[2]["temporal_psnr"]) == pytest.approx(
        summary["temporal_psnr"])


def test_image_reports_unchanged() -> None:
    r = EvalResult("m", "set", 2, 2, True, [ImageScore("x", 30.0, 0.9, 0.1)], 30.0, 0.9, 0.1)
    header, _ = report.table_rows([r])
    assert not any("tPSNR" in h for h in header)
    assert "temporal_psnr" not in report.to_csv([r], {}).splitlines()[0]
    doc = json.loads(report.to_json([r], {}))
    assert "temporal_psnr" not in doc["images"][0] and "temporal_psnr" not in doc["summary"][0]


@pytest.mark.slow
def test_bad_video_datasets_one_line(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"junk" * 50)
    code, _, err = run_cli(["eval", "-m", "bicubic", "-d", "junk.mp4", "-s", "2"])
    lines = [x for x in err.strip().splitlines() if x]
    assert code != 0 and len(lines) == 1 and "junk.mp4" in lines[0]
    code, _, err = run_cli(["eval", "-m", "bicubic", "-d", "gone.mp4", "-s", "2"])
    assert code == DatasetError.exit_code and "no such video file" in err
    make_clip(tmp_path / "c.mp4", audio=None, w=W, h=H, n=2)
    code, _, err = run_cli(["eval", "-m", "bicubic", "-d", "c.mp4", "--max-frames", "0"])
    assert code == UsageError.exit_code and "--max-frames" in err
    code, _, err = run_cli(["eval", "-m", "bicubic", "-d", "c.mp4", "-s", "2", "--rgb"])
    assert code == UsageError.exit_code and "standard protocol" in err
