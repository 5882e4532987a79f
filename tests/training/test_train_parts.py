"""The trainer's parts on their own: stages, the checkpointer (resume lookup, compatibility,
atomic saves) and the run log (records, trimming on resume, main process only)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from srgan_cli.errors import CheckpointError, OutputError
from srgan_cli.training import checkpoint as ckpt
from srgan_cli.training.config import TrainConfig, as_dict, from_mapping
from srgan_cli.training.runlog import RunLog, format_record
from srgan_cli.training.stages import GanStage, PsnrStage, make_stage

TINY = dict(num_blocks=1, channels=8, scale=4, patch_size=32, batch_size=2, device="cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(**kw: Any) -> TrainConfig:
    cfg = TrainConfig(**{**TINY, **kw})
    cfg.validate()
    return cfg


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    hr = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return hr, torch.nn.functional.avg_pool2d(hr, 4)


# ----------------------------------------------------------------------------- stages


def test_make_stage_picks_the_class_and_the_step_marks_the_update() -> None:
    cpu = torch.device("cpu")
    psnr = make_stage(_cfg(), cpu, None, fresh=True)
    assert type(psnr) is PsnrStage and psnr.name == "psnr"
    assert not hasattr(psnr, "discriminator") and psnr.eval_generator is psnr.generator
    assert not psnr.updating
    losses = psnr.step(*_batch(), updates=0)
    assert set(losses) == {"loss"} and psnr.updating  # the loop clears it once counted
    state = psnr.state()
    assert state["discriminator"] is None and state["opt_d"] is None
    assert state["params_ema"] is None and state["scaler"] is None

    gan = make_stage(_cfg(stage="gan", content_loss="l1"), cpu, None, fresh=False)
    assert type(gan) is GanStage and gan.networks()[1] is gan.discriminator
    # a psnr state cannot become a gan stage
    with pytest.raises(CheckpointError, match="no discriminator"):
        gan.load_state(state)


def test_stage_state_round_trip_continues_identically() -> None:
    cpu = torch.device("cpu")
    a = make_stage(_cfg(ema=0.5, lr=1e-3), cpu, None, fresh=True)
    hr, lr = _batch()
    a.step(hr, lr, 0)
    b = make_stage(_cfg(ema=0.5, lr=1e-3, seed=7), cpu, None, fresh=True)
    b.load_state(copy.deepcopy(a.state()))  # as through a file: no tensor shared with `a`
    la, lb = a.step(hr, lr, 1), b.step(hr, lr, 1)
    assert la["loss"].item() == lb["loss"].item()
    assert a.ema is not None and b.ema is not None
    for k, v in a.ema.module.state_dict().items():
        assert torch.equal(v, b.ema.module.state_dict()[k])


# ----------------------------------------------------------------------------- checkpointer


def test_checkpointer_resume_rules(tmp_path: Path) -> None:
    logs: list[str] = []
    c = ckpt.Checkpointer(tmp_path / "run", is_main=True, log=logs.append)
    assert c.resume_state(None) is None and c.resume_state("auto") is None
    assert any("starting a new run" in m for m in logs)
    assert c.save_last({"step": 3, "x": 1}) == tmp_path / "run" / "last.pt"
    with pytest.raises(CheckpointError, match="already holds a training checkpoint"):
        c.resume_state(None)  # a new run never overwrites an old one
    auto, explicit = c.resume_state("auto"), c.resume_state(str(tmp_path / "run" / "last.pt"))
    assert auto is not None and auto["step"] == 3
    assert explicit is not None and explicit["x"] == 1
    c.save_best({"step": 2})
    assert ckpt.load(tmp_path / "run" / "best.pt")["step"] == 2


def test_checkpointer_writes_only_on_the_main_process_and_reports_failures(
    tmp_path: Path,
) -> None:
    other = ckpt.Checkpointer(tmp_path / "r1", is_main=False, log=lambda _m: None)
    assert other.save_last({"step": 1}) is None and not (tmp_path / "r1").exists()
    (tmp_path / "file").write_text("not a folder")
    bad = ckpt.Checkpointer(tmp_path / "file" / "run", is_main=True, log=lambda _m: None)
    with pytest.raises(CheckpointError, match="cannot write checkpoint"):
        bad.save_last({"step": 1})


def test_check_compatible_and_the_old_lr_data_key() -> None:
    state = {"config": as_dict(_cfg(data=["a"], lowres_data=["b"]))}
    ckpt.check_compatible(as_dict(_cfg(data=["a"], lowres_data=["b"], steps=9,
                                       run_dir="elsewhere")), state)
    with pytest.raises(CheckpointError, match="channels = 8"):
        ckpt.check_compatible(as_dict(_cfg(data=["a"], lowres_data=["b"], channels=16)), state)
    # a checkpoint written when the key was lr_data: still compared, under the new name
    old = {"config": {**{k: v for k, v in state["config"].items() if k != "lowres_data"},
                      "lr_data": ["b"]}}
    ckpt.check_compatible(as_dict(_cfg(data=["a"], lowres_data=["b"])), old)
    with pytest.raises(CheckpointError, match="lowres_data = \\['b'\\]"):
        ckpt.check_compatible(as_dict(_cfg(data=["a"], lowres_data=["c"])), old)
    assert from_mapping(old["config"]).lowres_data == ["b"]


# ----------------------------------------------------------------------------- run log


def test_runlog_records_average_the_window(tmp_path: Path) -> None:
    lines: list[str] = []
    log = RunLog(tmp_path / "run", is_main=True, echo=lines.append, total_steps=4,
                 samples_per_step=6)
    log.open(_cfg(), step=0)
    log.start(0)
    assert log.last == {"step": 0}
    log.add({"loss": 1.0})
    log.add({"loss": 3.0})
    record = log.summary(2, 1e-3)
    assert record["loss"] == 2.0 and record["lr"] == 1e-3 and record["step"] == 2
    assert record["samples_per_sec"] == pytest.approx(6 / record["sec_per_step"])
    log.write(record)
    log.close()
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text()) == record
    assert lines == [format_record(record, 4)] and lines[0].startswith("step 2/4  lr 0.001")
    assert (tmp_path / "run" / "config.toml").is_file() and log.last == record


def test_runlog_open_trims_records_past_the_resumed_step(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    records = [json.dumps({"step": s, "loss": 1.0}) for s in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("\n".join(records) + '\n{"step": 4, "lo')  # torn line
    RunLog(run, is_main=True, echo=None, total_steps=9, samples_per_step=1).open(_cfg(), step=2)
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_runlog_of_other_ranks_writes_nothing(tmp_path: Path) -> None:
    lines: list[str] = []
    log = RunLog(tmp_path / "run", is_main=False, echo=lines.append, total_steps=1,
                 samples_per_step=1)
    log.open(_cfg(), step=0)
    log.start(0)
    log.add({"loss": math.pi})
    log.write(log.summary(1, 1.0))
    assert not (tmp_path / "run").exists() and lines == [] and log.last["loss"] == math.pi


def test_runlog_unwritable_folder_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    log = RunLog(tmp_path / "file" / "run", is_main=True, echo=None, total_steps=1,
                 samples_per_step=1)
    with pytest.raises(OutputError, match="cannot write"):
        log.open(_cfg(), step=0)


def test_the_log_is_strict_json_with_non_finite_values_flagged(tmp_path: Path) -> None:
    lines: list[str] = []
    log = RunLog(tmp_path / "run", is_main=True, echo=lines.append, total_steps=2,
                 samples_per_step=1)
    log.open(_cfg(), step=0)
    record = {"step": 1, "loss": 0.5, "val_psnr": math.nan, "best_psnr": -math.inf,
              "val_ssim": math.inf}
    log.write(record)

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    written = json.loads((tmp_path / "run" / "metrics.jsonl").read_text(), parse_constant=refuse)
    assert written == {"step": 1, "loss": 0.5, "val_psnr": None, "best_psnr": None,
                       "val_ssim": None, "non_finite": ["val_psnr", "best_psnr", "val_ssim"]}
    assert log.last is record and "val_psnr nan" in lines[0]  # the terminal says what it was


# ----------------------------------------------------------------------------- memory


def test_the_parameter_estimate_is_the_generators_count() -> None:
    from srgan_cli.models.srresnet import SRResNet
    from srgan_cli.training.footprint import generator_parameters

    for scale, blocks, channels in ((2, 1, 8), (3, 2, 5), (4, 16, 64), (8, 3, 16)):
        real = sum(p.numel() for p in SRResNet(scale, blocks, channels).parameters())
        assert generator_parameters(scale, blocks, channels) == real


def test_a_generator_too_large_for_memory_stops_before_it_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from srgan_cli.errors import ConfigError
    from srgan_cli.training import footprint, stages
    from srgan_cli.training.loop import Trainer

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("the generator was allocated")

    monkeypatch.setattr(footprint, "available_bytes", lambda device: 2**30)  # 1 GiB free
    monkeypatch.setattr(stages, "SRResNet", never)
    cfg = _cfg(num_blocks=64, channels=1024, run_dir=str(tmp_path / "run"))
    with pytest.raises(ConfigError) as info:
        Trainer(cfg, log=lambda _m: None)
    msg = str(info.value)
    need = footprint.generator_parameters(4, 64, 1024) * 16 / 2**30  # fp32 x weights, grad, Adam
    assert msg.startswith("config: the generator (num_blocks = 64, channels = 1024) needs about "
                          f"{need:.1f} GiB") and "1.0 GiB free on cpu" in msg, msg
    assert not (tmp_path / "run").exists()
    footprint.check_fits(_cfg(), torch.device("cpu"))  # the default generator fits in 1 GiB
