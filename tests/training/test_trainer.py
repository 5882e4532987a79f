"""Trainer: psnr and gan steps learn on a fixed batch, gan starts from a psnr result, AMP and
device checks, EMA, gradient clipping, NaN stop, validation with best.pt, and the run folder."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from helpers import noise_pngs

from srgan_cli.errors import DeviceError, ModelError, TrainingError
from srgan_cli.models.bundled import save_model
from srgan_cli.models.loading import load, load_srresnet
from srgan_cli.models.srresnet import SRResNet
from srgan_cli.models.vgg import VGGFeatures, random_vgg_features
from srgan_cli.training import stages
from srgan_cli.training.checkpoint import load as load_checkpoint
from srgan_cli.training.config import TrainConfig, resolve
from srgan_cli.training.loop import Trainer

TINY = dict(num_blocks=1, channels=8, scale=4, patch_size=32, batch_size=2, device="cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(tmp_path: Path, **kw: Any) -> TrainConfig:
    values = {**TINY, "run_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
              "data": [str(tmp_path / "train")], "steps": 4, "log_every": 1, **kw}
    cfg = TrainConfig(**values)
    cfg.validate()
    return cfg


def _quiet(msg: str) -> None:
    pass


def _batch(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    hr = F.interpolate(torch.rand(2, 3, size // 4, size // 4, generator=g), scale_factor=4,
                       mode="bilinear", align_corners=False).clamp(0, 1)
    return hr, F.avg_pool2d(hr, 4)


def _finite(module: torch.nn.Module) -> bool:
    return all(torch.isfinite(v).all() for v in module.state_dict().values()
               if v.is_floating_point())


@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    """Random VGG19 whose first conv is scaled x1000: ReLU nets without biases are positively
    homogeneous, so every feature is x1000 and the content loss is O(1) as with real weights."""
    v = random_vgg_features("vgg54")
    with torch.no_grad():
        v.get_parameter("features.0.weight").mul_(1000)
    return v


# ----------------------------------------------------------------------------- stage psnr


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_psnr_loss_decreases_on_a_fixed_batch(tmp_path: Path, loss: str) -> None:
    t = Trainer(_cfg(tmp_path, pixel_loss=loss, lr=1e-3), log=_quiet)
    hr, lr = _batch()
    losses = [t.train_step(hr, lr)["loss"].item() for _ in range(12)]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.6 * losses[0]
    with torch.no_grad():  # the reported loss is the configured one
        sr = t.generator(lr)
    want = F.mse_loss(sr, hr) if loss == "mse" else F.l1_loss(sr, hr)
    assert t.train_step(hr, lr)["loss"].item() == pytest.approx(want.item(), rel=1e-3)


# ----------------------------------------------------------------------------- stage gan


@pytest.mark.slow
def test_gan_starts_from_a_psnr_run_and_learns(tmp_path: Path, vgg: VGGFeatures) -> None:
    psnr = Trainer(_cfg(tmp_path, run_dir=str(tmp_path / "psnr"), ema=0.5), log=_quiet)
    hr, lr = _batch()
    for _ in range(2):
        psnr.train_step(hr, lr)
    psnr.save_checkpoint()
    init_state = psnr.ema.module.state_dict()  # a run's EMA weights are its result

    cfg = _cfg(tmp_path, stage="gan", init=str(tmp_path / "psnr"), lr=1e-4)
    gan = Trainer(cfg, vgg=vgg, log=_quiet)
    assert gan.discriminator is not None and gan.content is not None
    assert gan.content.vgg is vgg
    got = gan.generator.state_dict()
    assert all(torch.equal(got[k], init_state[k]) for k in init_state)

    steps = [{k: v.item() for k, v in gan.train_step(hr, lr).items()} for _ in range(4)]
    assert {"loss", "content", "adv", "d_loss", "d_real", "d_fake"} <= set(steps[0])
    assert all(math.isfinite(v) for s in steps for v in s.values())
    content = [s["content"] for s in steps]
    assert all(b < a for a, b in zip(content, content[1:], strict=False)), content
    assert steps[-1]["d_loss"] < steps[0]["d_loss"]  # the discriminator learns too
    for s in steps:
        assert s["loss"] == pytest.approx(s["content"] + 1e-3 * s["adv"], rel=1e-4)
    assert all(not p.requires_grad for p in vgg.parameters())
    assert all(p.requires_grad for p in gan.discriminator.parameters())

    # a checkpoint file and an exported .safetensors are accepted as init too
    ckpt_init = Trainer(_cfg(tmp_path, stage="gan", init=str(tmp_path / "psnr" / "last.pt")),
                        vgg=vgg, log=_quiet)
    got = ckpt_init.generator.state_dict()
    assert all(torch.equal(got[k], init_state[k]) for k in init_state)
    save_model(psnr.generator, tmp_path / "g.safetensors", {})
    st = Trainer(_cfg(tmp_path, stage="gan", init=str(tmp_path / "g.safetensors")), vgg=vgg,
                 log=_quiet)
    assert torch.equal(st.generator.get_parameter("tail.weight"),
                       psnr.generator.get_parameter("tail.weight"))


def test_gan_init_errors(tmp_path: Path, vgg: VGGFeatures) -> None:
    with pytest.raises(TrainingError, match="set init"):
        Trainer(_cfg(tmp_path, stage="gan"), vgg=vgg, log=_quiet)
    save_model(SRResNet(4, 2, 8), tmp_path / "other.safetensors", {})
    with pytest.raises(TrainingError, match="different shape"):
        Trainer(_cfg(tmp_path, stage="gan", init=str(tmp_path / "other.safetensors")), vgg=vgg,
                log=_quiet)
    save_model(SRResNet(2, 1, 8), tmp_path / "x2.safetensors", {})
    with pytest.raises(ModelError, match="x2"):
        Trainer(_cfg(tmp_path, stage="gan", init=str(tmp_path / "x2.safetensors")), vgg=vgg,
                log=_quiet)


@pytest.mark.slow
def test_gan_with_pixel_content_loss_needs_no_vgg(tmp_path: Path) -> None:
    save_model(SRResNet(4, 1, 8), tmp_path / "g.safetensors", {})
    t = Trainer(_cfg(tmp_path, stage="gan", content_loss="mse",
                     init=str(tmp_path / "g.safetensors")), log=_quiet)
    hr, lr = _batch()
    out = t.train_step(hr, lr)
    with torch.no_grad():
        assert t.content is not None and t.content.vgg is None
        assert math.isfinite(out["d_loss"].item())


# ----------------------------------------------------------------------------- loop options


def test_bf16_on_cpu(tmp_path: Path) -> None:
    t = Trainer(_cfg(tmp_path, amp="bf16", lr=1e-3), log=_quiet)
    assert t.amp_dtype == torch.bfloat16 and not t.scaler.is_enabled()
    seen: list[torch.dtype] = []
    t.generator.get_submodule("head").register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    hr, lr = _batch()
    losses = [t.train_step(hr, lr)["loss"].item() for _ in range(6)]
    assert seen and all(d == torch.bfloat16 for d in seen)  # convs ran in bf16
    assert all(p.dtype == torch.float32 for p in t.generator.parameters())  # master weights
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


@pytest.mark.parametrize("stage", ["psnr", pytest.param("gan", marks=pytest.mark.slow)])
def test_fp16_with_a_grad_scaler_on_cpu(tmp_path: Path, stage: str) -> None:
    """The CPU runs training's fp16 path as a GPU does (autocast fp16, a CPU GradScaler), through
    `train_batch`, the loop's call on a uint8 batch: what bench/gpu_check.py --cpu-smoke runs
    (with VGG19 there; fp16 kernels are slow on a CPU, so the gan stage here uses content mse)."""
    extra: dict[str, Any] = {}
    if stage == "gan":
        init = tmp_path / "init.safetensors"
        save_model(SRResNet(4, 1, 8), init, {})
        extra = {"stage": "gan", "init": str(init), "content_loss": "mse"}
    t = Trainer(_cfg(tmp_path, amp="fp16", lr=1e-3, **extra), log=_quiet)
    assert t.amp_dtype == torch.float16
    assert t.scaler.is_enabled()
    seen: list[torch.dtype] = []
    t.generator.get_submodule("head").register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    hr, lr = _batch()
    hr_u8, lr_u8 = (x.mul(255).round().to(torch.uint8) for x in (hr, lr))
    values = [t.train_batch(hr_u8, lr_u8) for _ in range(3)]  # fp16 on a CPU: slow kernels
    assert t.step == 3 and seen and all(d == torch.float16 for d in seen)
    assert all(p.dtype == torch.float32 for p in t.generator.parameters())  # master weights
    assert all(math.isfinite(v) for step in values for v in step.values())
    assert t.scaler.get_scale() > 1  # the scaler is really on (it starts at 65536)
    assert "scaler" in t.state() and t.state()["scaler"] is not None


def test_the_loop_steps_through_train_batch(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/gpu_check.py times `train_batch` on uint8 batches: the loop must make that very
    call, on what its loader gives, or the check could drift from training again."""
    noise_pngs(tmp_path / "train", 2, (40, 44))
    seen: list[tuple[torch.dtype, str]] = []
    real = Trainer.train_batch

    def spy(self: Trainer, hr_u8: torch.Tensor, lr_u8: torch.Tensor) -> dict[str, float]:
        seen.append((hr_u8.dtype, lr_u8.device.type))
        return real(self, hr_u8, lr_u8)

    monkeypatch.setattr(Trainer, "train_batch", spy)
    t = Trainer(_cfg(tmp_path, steps=2, save_every=2, val_every=0), log=_quiet)
    t.fit()
    assert t.step == 2 and seen == [(torch.uint8, "cpu")] * 2


def test_amp_auto_is_bf16_on_a_native_bf16_cpu(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """As upscale's `--precision auto`: one policy (`devices.choose_precision`)."""
    from srgan_cli.devices import choose_precision

    monkeypatch.setenv("SRGAN_CPU_BF16", "1")
    assert choose_precision("auto", torch.device("cpu"), training=True) == "bf16"
    assert Trainer(_cfg(tmp_path, amp="auto"), log=_quiet).amp_dtype == torch.bfloat16
    monkeypatch.setenv("SRGAN_CPU_BF16", "0")
    assert choose_precision("auto", torch.device("cpu"), training=True) == "fp32"


def test_device_and_precision_checks(tmp_path: Path) -> None:
    assert Trainer(_cfg(tmp_path, amp="fp16"), log=_quiet).amp_dtype == torch.float16
    assert Trainer(_cfg(tmp_path, amp="auto"), log=_quiet).amp_dtype is None  # CPU: fp32
    with pytest.raises(DeviceError, match="unknown device"):
        Trainer(_cfg(tmp_path, device="tpu9"), log=_quiet)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="not available"):
            Trainer(_cfg(tmp_path, device="cuda:0"), log=_quiet)


def test_ema_is_updated_saved_and_used(tmp_path: Path) -> None:
    t = Trainer(_cfg(tmp_path, ema=0.75, lr=1e-2), log=_quiet)
    assert t.eval_generator is t.ema.module
    hr, lr = _batch()
    before = {k: v.clone() for k, v in t.ema.module.named_parameters()}
    buffers = {k: v.clone() for k, v in t.ema.module.named_buffers()}
    t.step = 100  # past the warm-up: decay = min(0.75, 101/110) = 0.75
    assert t.ema.decay_at(0) == pytest.approx(0.1) and t.ema.decay_at(100) == 0.75
    t.train_step(hr, lr)
    new = dict(t.generator.named_parameters())
    for k, old in before.items():  # ema = 0.75 ema + 0.25 weights
        torch.testing.assert_close(t.ema.module.get_parameter(k), 0.75 * old + 0.25 * new[k])
    assert not torch.equal(t.ema.module.get_parameter("tail.weight"),
                           t.generator.get_parameter("tail.weight"))
    for k, b in t.generator.named_buffers():  # BN statistics averaged, counters copied
        if b.is_floating_point():
            torch.testing.assert_close(t.ema.module.get_buffer(k), 0.75 * buffers[k] + 0.25 * b)
        else:
            assert torch.equal(t.ema.module.get_buffer(k), b)

    path = t.save_checkpoint()
    assert path is not None
    state = load_checkpoint(path)
    assert state["step"] == 100 and state["stage"] == "psnr" and state["format"]
    for k, v in t.ema.module.state_dict().items():
        assert torch.equal(state["params_ema"][k], v)
        assert torch.equal(state["generator"][k], t.generator.state_dict()[k])
    # what is exported / used for inference from the run is the EMA
    loaded = load_srresnet(str(path))
    assert torch.equal(loaded.get_parameter("tail.weight"),
                       t.ema.module.get_parameter("tail.weight"))


def test_grad_clip_limits_the_gradient_norm(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    norms: list[tuple[float, float]] = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params: Any, max_norm: float, *a: Any, **kw: Any) -> torch.Tensor:
        params = list(params)
        before = real(params, max_norm, *a, **kw)
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        norms.append((before.item(), after.item()))
        return before

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    t = Trainer(_cfg(tmp_path, grad_clip=1e-3), log=_quiet)
    hr, lr = _batch()
    for _ in range(3):
        assert math.isfinite(t.train_step(hr, lr)["loss"].item())
    assert len(norms) == 3
    assert all(before > 1e-3 and after == pytest.approx(1e-3, rel=1e-3) for before, after in norms)
    norms.clear()
    Trainer(_cfg(tmp_path), log=_quiet).train_step(hr, lr)
    assert norms == []  # grad_clip = 0: off


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise_pngs(tmp_path / "train", 2, (40, 44))
    real = stages.pixel_loss
    calls = {"n": 0}

    def nan_after_three(kind: str, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        loss = real(kind, sr, hr)
        return loss * float("nan") if calls["n"] > 3 else loss

    monkeypatch.setattr(stages, "pixel_loss", nan_after_three)
    t = Trainer(_cfg(tmp_path, steps=10, save_every=1), log=_quiet)
    with pytest.raises(TrainingError) as info:
        t.fit()
    msg = str(info.value)
    assert "nan" in msg and "step 4" in msg and str(tmp_path / "run" / "last.pt") in msg
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["step"] == 3
    assert all(torch.isfinite(v).all() for v in state["generator"].values()
               if v.is_floating_point())
    assert not _finite(t.generator)  # the bad update happened in memory only


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_finishes_the_step_saves_a_checkpoint_and_interrupts(tmp_path: Path,
                                                                       sig: str) -> None:
    """One handler (`signals.stop_requests`) for SIGINT, SIGTERM and SIGHUP: the step under way
    is finished and saved, then KeyboardInterrupt (the CLI exits 130); handlers come back."""
    signum = getattr(signal, sig)
    noise_pngs(tmp_path / "train", 2, (40, 44))
    logs: list[str] = []
    t = Trainer(_cfg(tmp_path, steps=50, save_every=100), log=logs.append)
    real = t.train_step

    def step(hr: torch.Tensor, lr_img: torch.Tensor) -> dict[str, torch.Tensor]:
        if t.step + 1 == 3:
            signal.raise_signal(signum)  # arrives inside step 3
        return real(hr, lr_img)

    def unhandled(signum: int, frame: object) -> None:
        raise AssertionError(f"{sig} reached the handler outside the training loop")

    t.train_step = step  # type: ignore[method-assign]
    previous = signal.signal(signum, unhandled)
    try:
        with pytest.raises(KeyboardInterrupt):
            t.fit()
        assert signal.getsignal(signum) is unhandled
    finally:
        signal.signal(signum, previous)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 3
    assert "stop requested: finishing this step and saving a checkpoint" in logs
    assert f"interrupted at step 3; checkpoint saved to {tmp_path / 'run' / 'last.pt'} " \
           "(continue with resume auto)" in logs


# ----------------------------------------------------------------------------- validation, logs


def test_validation_logs_and_run_folder(tmp_path: Path) -> None:
    from srgan_cli.evaluation.datasets import open_dataset
    from srgan_cli.evaluation.evaluate import evaluate
    from srgan_cli.upscaling.upscaler import Upscaler

    noise_pngs(tmp_path / "train", 2, (40, 44))
    val = tmp_path / "Val"
    noise_pngs(val / "HR", n=3, size=(24, 28))
    cfg = _cfg(tmp_path, steps=4, val_every=2, val_data=str(val), ema=0.5, lr=1e-3,
               save_every=100)
    logs: list[str] = []
    record = Trainer(cfg, log=logs.append, show_progress=False).fit()
    run = tmp_path / "run"

    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4]
    for r in lines:
        assert {"step", "loss", "lr", "sec_per_step", "samples_per_sec"} <= set(r)
        assert r["sec_per_step"] > 0 and r["samples_per_sec"] == pytest.approx(
            2 / r["sec_per_step"], rel=1e-6)
        assert r["lr"] == pytest.approx(1e-3)
        assert ("val_psnr" in r) == (r["step"] % 2 == 0) == ("val_ssim" in r)
    assert record == lines[-1]
    assert any(line.startswith("step 4/4") and "val_psnr" in line for line in logs)

    scored = [r for r in lines if "val_psnr" in r]
    best = max(scored, key=lambda r: r["val_psnr"])
    assert all(r["best_psnr"] == pytest.approx(max(s["val_psnr"] for s in scored[: i + 1]))
               for i, r in enumerate(scored))
    best_state = load_checkpoint(run / "best.pt")
    assert best_state["step"] == best["step"]
    assert best_state["best_psnr"] == pytest.approx(best["val_psnr"])
    # best.pt holds the weights that were scored: re-scoring them gives the logged numbers
    best_model = load(str(run / "best.pt"))
    again = evaluate(Upscaler(best_model, device="cpu", precision="fp32").upscale_array,
                     open_dataset(str(val), 4), scale=4)
    assert again.mean_psnr == pytest.approx(best["val_psnr"], abs=1e-9)
    assert again.mean_ssim == pytest.approx(best["val_ssim"], abs=1e-9)

    assert load_checkpoint(run / "last.pt")["step"] == 4  # saved at the end
    assert resolve(run / "config.toml", {}) == cfg  # the saved config loads back


def test_validation_set_by_name_under_data_root_and_missing_one_fails_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from srgan_cli.errors import DatasetError

    monkeypatch.delenv("SRGAN_DATA", raising=False)  # only data_root may find Set5
    monkeypatch.chdir(tmp_path)
    noise_pngs(tmp_path / "train", 2, (40, 44))
    noise_pngs(tmp_path / "root" / "Set5" / "HR", n=2, size=(20, 24))
    cfg = _cfg(tmp_path, steps=2, val_every=2, val_data="set5", data_root=str(tmp_path / "root"))
    record = Trainer(cfg, log=_quiet).fit()
    assert record["step"] == 2 and math.isfinite(record["val_psnr"])

    cfg = _cfg(tmp_path, steps=2, val_every=2, val_data=str(tmp_path / "nope"),
               run_dir=str(tmp_path / "run2"))
    with pytest.raises(DatasetError, match="nope"):
        Trainer(cfg, log=_quiet).fit()
    assert not (tmp_path / "run2" / "last.pt").exists()  # no training step was taken


def test_a_validation_set_with_no_readable_image_stops_at_start(tmp_path: Path) -> None:
    from srgan_cli.errors import DatasetError

    noise_pngs(tmp_path / "train", 2, (40, 44))
    hr = tmp_path / "val" / "HR"
    hr.mkdir(parents=True)
    for name in ("a.png", "b.png"):
        (hr / name).write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image" * 8)
    cfg = _cfg(tmp_path, steps=2, val_every=1, val_data=str(tmp_path / "val"))
    with pytest.raises(DatasetError) as info:
        Trainer(cfg, log=_quiet).fit()
    msg = str(info.value)
    assert msg.startswith("validation set val: none of its 2 image(s) can be read: ") and \
        str(hr / "a.png") in msg and "\n" not in msg, msg
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # refused before the first step
