"""`srgan eval` shared among processes: per-image scores gathered, the means those of one
process bit for bit (computed by the same `summarize` over the images in the same order)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
from helpers import RunCli, child_env, save, smooth

from srgan_cli.distributed import DistInfo, shard
from srgan_cli.evaluation.evaluate import ImageScore, merged, summarize

ROOT = Path(__file__).parents[2]


def _scores() -> list[ImageScore]:
    """Six scores, one failed: shared 3/3 the two processes hold 3 and 2 good ones."""
    out = [ImageScore(f"im{i}", 30 + i * i / 7, 0.9 + i * i / 97, 0.01 * i * i) for i in range(5)]
    return out + [ImageScore("im5", math.nan, math.nan, math.nan, "broken", error_code=3)]


def test_merged_shares_have_the_means_of_one_process() -> None:
    images = _scores()
    whole = summarize(images, model="m", dataset="d", scale=2, crop_border=2, y_channel=True)
    parts = [summarize(shard(images, DistInfo(r, 2, r)), model="m", dataset="d", scale=2,
                       crop_border=2, y_channel=True) for r in (0, 1)]
    mean_of_means = (parts[0].mean_psnr + parts[1].mean_psnr) / 2
    assert mean_of_means != whole.mean_psnr  # the test can tell a wrong merge
    result = merged(parts)
    assert [s.name for s in result.images] == [f"im{i}" for i in range(6)]
    for key in ("mean_psnr", "mean_ssim", "seconds"):
        assert getattr(result, key) == getattr(whole, key), key
    assert len(result.failed) == 1 and result.partial is False


def _without_times(value: Any) -> Any:
    """The --json report without what differs from run to run (timings)."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items()
                if k not in ("seconds", "seconds_per_image")}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_torchrun_eval_equals_one_process_bit_for_bit(tmp_path: Path, run_cli: RunCli) -> None:
    data = tmp_path / "ds"
    for i in range(5):
        save(data / f"im{i}.png", smooth(40 + 4 * i, 36 + 2 * i, i))
    (data / "im5.png").write_bytes(b"not a png")  # rank 1's share: a failure it must report
    args = ["eval", "--model", "bicubic", "-s", "2", "--dataset", str(data), "--per-image"]
    code, _, _ = run_cli([*args, "--json", str(tmp_path / "one.json")])
    assert code == 3
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "srgan_cli", *args, "--json", str(tmp_path / "two.json")],
        capture_output=True, text=True, timeout=300, env=child_env(PYTHONPATH=str(ROOT)))
    assert res.returncode != 0, res.stderr[-3000:]  # torchrun: some process failed
    assert res.stderr.count("error: 1 image failed: bicubic/ds/im5") == 1, res.stderr[-3000:]
    assert re.search(r"rank\s*: 0 .*\n\s*exitcode\s*: 3 ", res.stderr), res.stderr[-3000:]
    assert res.stdout.count("PSNR/SSIM on Y") == 1  # one table, from rank 0
    one = json.loads((tmp_path / "one.json").read_text())
    two = json.loads((tmp_path / "two.json").read_text())
    assert _without_times(two) == _without_times(one)
    assert two["summary"][0]["images"] == 6 and two["summary"][0]["failed"] == 1
