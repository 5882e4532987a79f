"""DDP: two gloo processes on the CPU (torchrun) train both stages; the replicas end with identical
weights, ranks read disjoint samples, and only rank 0 writes checkpoints and logs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from helpers import child_env, noise_pngs

from srgan_cli.training.checkpoint import load as load_checkpoint

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

# Each rank trains stage psnr then stage gan (initialised from the psnr run) and saves what it
# holds. Rank 1 is given its own run folder, so that anything it writes would show.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from srgan_cli import distributed as dist_utils
    from srgan_cli.training.config import TrainConfig
    from srgan_cli.training.loop import Trainer

    out, data, cache = sys.argv[1:4]
    rank = int(os.environ["RANK"])
    suffix = "" if rank == 0 else f"_rank{rank}"
    common = dict(data=[data], cache_dir=cache, scale=4, num_blocks=1, channels=8,
                  patch_size=32, batch_size=2, device="cpu", log_every=1, lr=1e-3, seed=4)
    info = {}
    for stage, extra in (
        ("psnr", dict(steps=3, save_every=2, ema=0.5)),
        ("gan", dict(steps=2, save_every=5, content_loss="mse", init=f"{out}/psnr")),
    ):
        cfg = TrainConfig(stage=stage, run_dir=f"{out}/{stage}{suffix}", **common, **extra)
        cfg.validate()
        logs = []
        t = Trainer(cfg, log=logs.append, show_progress=False)
        loader = t.make_loader()
        sampler = loader.batch_sampler
        first = next(iter(sampler))
        t.fit()
        state = {"generator": t.generator.state_dict()}
        if t.discriminator is not None:
            state["discriminator"] = t.discriminator.state_dict()
        if t.ema is not None:
            state["params_ema"] = t.ema.module.state_dict()
        torch.save(state, f"{out}/{stage}_rank{rank}.pt")
        info[stage] = dict(rank=sampler.rank, world=sampler.world, first=first, logs=logs,
                           step=t.step)
    with open(f"{out}/info_rank{rank}.json", "w") as fh:
        json.dump(info, fh)
    dist_utils.shutdown()
    """
)


@pytest.mark.slow
def test_two_gloo_processes_keep_identical_replicas(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 3, (40, 36))
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    env = child_env(PYTHONPATH=str(Path(__file__).parents[2]))
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(out), str(tmp_path / "train"), str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    infos = [json.loads((out / f"info_rank{r}.json").read_text()) for r in (0, 1)]

    for stage, steps in (("psnr", 3), ("gan", 2)):
        ranks = [torch.load(out / f"{stage}_rank{r}.pt") for r in (0, 1)]
        for part, a in ranks[0].items():
            b = ranks[1][part]
            assert a.keys() == b.keys()
            for k in a:  # parameters and BatchNorm statistics alike
                assert torch.equal(a[k], b[k]), f"{stage} {part}.{k} differs between replicas"
        # rank 0's checkpoint is what both replicas hold
        ckpt = load_checkpoint(out / stage / "last.pt")
        assert ckpt["step"] == steps
        for part, a in ranks[0].items():
            assert all(torch.equal(ckpt[part][k], a[k]) for k in a)
        # only rank 0 writes a run folder and logs
        assert not (out / f"{stage}_rank1").exists()
        lines = (out / stage / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(x)["step"] for x in lines] == list(range(1, steps + 1))
        assert "samples_per_sec" in json.loads(lines[-1])
        step_logs = [[m for m in i[stage]["logs"] if m.startswith("step ")] for i in infos]
        assert len(step_logs[0]) == steps and step_logs[1] == []
        # ranks read disjoint samples
        assert [i[stage]["rank"] for i in infos] == [0, 1]
        assert all(i[stage]["world"] == 2 and i[stage]["step"] == steps for i in infos)
        assert infos[0][stage]["first"] == [0, 1] and infos[1][stage]["first"] == [2, 3]

    # the gan stage started from the psnr result and trained on
    psnr, gan = torch.load(out / "psnr_rank0.pt"), torch.load(out / "gan_rank0.pt")
    assert not torch.equal(psnr["params_ema"]["tail.weight"], gan["generator"]["tail.weight"])


# ----------------------------------------------------------------------------- the launch

TORCHRUN = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
PEER = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"WORLD_SIZE": "abc"}, "WORLD_SIZE must be a whole number"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE must be at least 1"),
        ({"WORLD_SIZE": "2"}, "RANK is needed when WORLD_SIZE is above 1"),
        ({"WORLD_SIZE": "2", "RANK": "2", **PEER}, "RANK must be from 0 to 1"),
        ({"WORLD_SIZE": "1", "RANK": "3"}, "RANK must be from 0 to 0"),
        ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "x", **PEER},
         "LOCAL_RANK must be a whole number"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR is needed when WORLD_SIZE is above 1"),
        ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "99999"},
         "MASTER_PORT must be a port number from 1 to 65535"),
    ],
)
def test_leftover_torchrun_variables_are_one_usage_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], why: str,
) -> None:
    from srgan_cli.distributed import from_env
    from srgan_cli.errors import UsageError

    for name in TORCHRUN:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UsageError) as info:
        from_env()
    msg = str(info.value)
    shown = ", ".join(f"{k}={v!r}" for k, v in sorted(env.items(), key=lambda kv:
                                                       TORCHRUN.index(kv[0])))
    assert msg == (f"torchrun variables {shown}: {why}; launch with torchrun, or unset them to "
                   "run in one process")


def test_torchrun_variables_that_fit_together(monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.distributed import DistInfo, from_env

    for name in TORCHRUN:
        monkeypatch.delenv(name, raising=False)
    assert from_env() == DistInfo()
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert from_env() == DistInfo()
    for name, value in {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", **PEER}.items():
        monkeypatch.setenv(name, value)
    assert from_env() == DistInfo(3, 4, 1)


@pytest.mark.slow
def test_a_peer_that_never_comes_is_a_timeout_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as s:  # a free port: nobody else will ever join there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = child_env(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                    MASTER_PORT=str(port), SRGAN_DIST_TIMEOUT="2")
    res = subprocess.run(
        [sys.executable, "-m", "srgan_cli", "train", "--device", "cpu", "--num-blocks", "1",
         "--channels", "8", "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: process 0 of 2 (torchrun variables "
                                                   "WORLD_SIZE, RANK): "), res.stderr
    assert f"did not all meet at 127.0.0.1:{port} within 2 s" in lines[0]
    assert lines[0].endswith("or raise SRGAN_DIST_TIMEOUT")
