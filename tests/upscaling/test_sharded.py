"""`srgan upscale` shared among processes (torchrun's variables, gloo on the CPU): each output
written once, by the process whose share it is; one merged record list, summary and exit code
from rank 0; a failure on rank 1 counts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch.distributed as dist
from helpers import child_env, noise_pngs

from srgan_cli import distributed
from srgan_cli.distributed import DistInfo

ROOT = Path(__file__).parents[2]

# `srgan ARGV` with every file write of the encoder logged as "RANK PATH" (who wrote what).
LOGGED = textwrap.dedent(
    """
    import os, sys
    from srgan_cli.media import encode

    real = encode.write_image

    def logged(path, *args, **kwargs):
        with open(os.environ["WRITES_LOG"], "a", encoding="utf-8") as fh:
            fh.write(f"{os.environ['RANK']} {path}\\n")
        return real(path, *args, **kwargs)

    encode.write_image = logged
    from srgan_cli.cli.app import main
    main(sys.argv[1:])
    """
)


def test_shares_are_every_item_once_and_back_in_order() -> None:
    items = list(range(7))
    parts = [distributed.shard(items, DistInfo(rank, 3, rank)) for rank in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    assert distributed.unshard(parts) == items
    assert distributed.shard(items, DistInfo()) == items


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Done = subprocess.CompletedProcess[str]


def _two_processes(script: Path, args: list[str], log: Path) -> list[Done]:
    """`script ARGS` as ranks 0 and 1 of a two-process torchrun-style launch (its variables set
    by hand, so that each process's exit code and output can be read)."""
    port = str(_free_port())
    procs = [subprocess.Popen(
        [sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=child_env(PYTHONPATH=str(ROOT), WORLD_SIZE="2", RANK=str(rank),
                                 LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                                 MASTER_PORT=port, WRITES_LOG=str(log)))
        for rank in (0, 1)]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        done.append(Done(p.args, p.returncode, out, err))
    return done


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_processes_share_a_folder_and_rank0_reports_all(tmp_path: Path) -> None:
    src = noise_pngs(tmp_path / "in", 5, (12, 10))
    (src / "1.png").write_bytes(b"not a png")  # job 1: rank 1's share
    out = tmp_path / "out"
    script = tmp_path / "logged_srgan.py"
    script.write_text(LOGGED)
    log = tmp_path / "writes.log"
    args = ["upscale", str(src), "-o", str(out), "--model", "bicubic", "--json"]
    rank0, rank1 = _two_processes(script, args, log)

    assert rank0.returncode == 3, rank0.stderr  # the input-image error of rank 1's image
    assert rank1.returncode == 0, rank1.stderr
    assert rank1.stdout == ""  # rank 0 prints for both
    records = [json.loads(line) for line in rank0.stdout.splitlines()]
    assert [Path(r["input"]).name for r in records] == [f"{i}.png" for i in range(5)]
    assert [r["status"] for r in records] == ["ok", "error", "ok", "ok", "ok"]
    assert "4 upscaled, 0 skipped, 1 failed" in rank0.stderr
    writes = sorted(log.read_text().splitlines())
    assert writes == sorted(f"{i % 2} {out / f'{i}.png'}" for i in (0, 2, 3, 4))
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "2.png", "3.png", "4.png"]

    # run again: every output is skipped, by whichever process it falls to
    (src / "1.png").unlink()
    log.unlink()
    rank0, rank1 = _two_processes(script, args, log)
    assert (rank0.returncode, rank1.returncode) == (0, 0), rank0.stderr + rank1.stderr
    records = [json.loads(line) for line in rank0.stdout.splitlines()]
    assert [r["status"] for r in records] == ["skipped"] * 4
    assert "0 upscaled, 4 skipped, 0 failed" in rank0.stderr
    assert not log.exists()
