"""`srgan train` end to end: config file + flags, the run folder, and errors as one line with
their exit code (config 7, dataset 6, training 9, device 10), never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import child_env, noise_pngs

from srgan_cli.errors import ConfigError, DatasetError, DeviceError, OutputError, TrainingError
from srgan_cli.models.bundled import save_model
from srgan_cli.models.srresnet import SRResNet
from srgan_cli.models.vgg import VGG19_FILE, VGG19_URL
from srgan_cli.training.checkpoint import load as load_checkpoint
from srgan_cli.training.config import resolve


def _train(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "srgan_cli", "train", *args],
                          capture_output=True, text=True, timeout=180, env=env or child_env())


def _one_line_error(res: subprocess.CompletedProcess[str], code: int) -> str:
    assert res.returncode == code, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_help_lists_every_option() -> None:
    res = _train("--help")
    assert res.returncode == 0
    for flag in ("--config", "--resume", "--stage", "--patch-size", "--vgg-weights", "--lr-data",
                 "--amp", "--ema", "--grad-clip", "--deterministic", "--val-data", "--skip-bad"):
        assert flag in res.stdout


@pytest.mark.slow
def test_config_file_with_flag_overrides(tmp_path: Path) -> None:
    data = noise_pngs(tmp_path / "train", 2, (40, 40))
    conf = tmp_path / "c.toml"
    conf.write_text(f'data = ["{data}"]\nscale = 4\nnum_blocks = 1\nchannels = 8\n'
                    'patch_size = 32\nbatch_size = 2\nsteps = 50\nlr = 2e-4\ndevice = "cpu"\n'
                    "log_every = 1\npixel_loss = \"l1\"\n")
    run = tmp_path / "run"
    res = _train("--config", str(conf), "--steps", "2", "--run-dir", str(run),
                 "--cache-dir", str(tmp_path / "cache"), "--no-channels-last")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert f"done: step 2, checkpoint {run / 'last.pt'}" in res.stderr
    saved = resolve(run / "config.toml", {})
    assert (saved.steps, saved.lr, saved.pixel_loss, saved.channels_last) == (2, 2e-4, "l1", False)
    assert saved.run_dir == str(run) and saved.data == [str(data)]
    assert load_checkpoint(run / "last.pt")["step"] == 2
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [
        1, 2]
    # starting again in the same folder without --resume must not overwrite the run
    before = (run / "last.pt").read_bytes()
    res = _train("--config", str(conf), "--steps", "3", "--run-dir", str(run),
                 "--cache-dir", str(tmp_path / "cache"))
    line = _one_line_error(res, 8)
    assert "--resume auto" in line and str(run) in line
    assert (run / "last.pt").read_bytes() == before


def _main_error(capsys: pytest.CaptureFixture[str], code: int, *args: str) -> str:
    """`srgan train ARGS` in this process (cheaper than a new interpreter): its one error line."""
    from srgan_cli.cli.app import main

    with pytest.raises(SystemExit) as info:
        main(["train", *args])
    err = capsys.readouterr().err
    assert info.value.code == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.slow
def test_config_errors_exit_7(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text("steps = 10\nlearning_rate = 1e-4\n")
    line = _one_line_error(_train("--config", str(conf)), ConfigError.exit_code)
    assert "'learning_rate'" in line
    conf.write_text('steps = "many"\n')
    line = _main_error(capsys, ConfigError.exit_code, "--config", str(conf))
    assert "'steps'" in line and "expected int" in line
    line = _main_error(capsys, ConfigError.exit_code, "--stage", "gan", "--patch-size", "24")
    assert "'patch_size'" in line and "32" in line


@pytest.mark.slow
def test_data_and_device_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _main_error(capsys, DatasetError.exit_code, "--data", str(tmp_path / "missing"),
                       "--run-dir", str(tmp_path / "r"), "--device", "cpu",
                       "--cache-dir", str(tmp_path / "cache"))
    assert str(tmp_path / "missing") in line
    line = _main_error(capsys, DeviceError.exit_code, "--device", "cuda:99")
    assert "cuda:99" in line


@pytest.mark.slow
def test_gan_without_vgg_weights_stops_before_training(tmp_path: Path) -> None:
    data = noise_pngs(tmp_path / "train", 2, (40, 40))
    init = tmp_path / "psnr.safetensors"
    save_model(SRResNet(4, 1, 8), init, {})
    run = tmp_path / "run"
    args = ("--stage", "gan", "--data", str(data), "--scale", "4", "--num-blocks", "1",
            "--channels", "8", "--patch-size", "32", "--batch-size", "2", "--steps", "2",
            "--device", "cpu", "--run-dir", str(run), "--cache-dir", str(tmp_path / "cache"))
    empty_home = tmp_path / "torch_home"
    empty_home.mkdir()
    res = _train(*args, "--init", str(init),
                 env=child_env(TORCH_HOME=str(empty_home), SRGAN_OFFLINE="1"))
    line = _one_line_error(res, TrainingError.exit_code)
    assert VGG19_URL in line
    assert str(empty_home / "hub" / "checkpoints" / VGG19_FILE) in line
    assert "downloads are off" in line
    assert not run.exists()  # stopped before anything was written


@pytest.mark.slow
def test_gan_offline_flag_forbids_the_vgg_download(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch.hub

    def no_network(*_a: object, **_k: object) -> None:
        raise AssertionError("--offline must not download")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    monkeypatch.delenv("SRGAN_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    init = tmp_path / "psnr.safetensors"
    save_model(SRResNet(4, 1, 8), init, {})
    line = _main_error(capsys, TrainingError.exit_code, "--stage", "gan", "--init", str(init),
                       "--num-blocks", "1", "--channels", "8", "--device", "cpu", "--offline",
                       "--data", str(noise_pngs(tmp_path / "train", 2, (40, 40))),
                       "--patch-size", "32",
                       "--cache-dir", str(tmp_path / "cache"), "--run-dir", str(tmp_path / "r"))
    assert VGG19_URL in line and "--vgg-weights" in line and "downloads are off" in line
    # the option as a flag once the command line renders option() markers as flags
    assert "stage gan trains without VGG19 with --content-loss mse or l1" in line



@pytest.mark.slow
def test_gan_without_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _main_error(capsys, TrainingError.exit_code, "--stage", "gan", "--device", "cpu",
                       "--num-blocks", "1", "--channels", "8", "--run-dir", str(tmp_path / "r"))
    assert "set init" in line


@pytest.mark.slow
def test_missing_explicit_vgg_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init = tmp_path / "psnr.safetensors"
    save_model(SRResNet(4, 1, 8), init, {})
    line = _main_error(capsys, TrainingError.exit_code, "--stage", "gan", "--init", str(init),
                       "--num-blocks", "1", "--channels", "8", "--device", "cpu",
                       "--vgg-weights", str(tmp_path / "vgg.pth"), "--run-dir",
                       str(tmp_path / "run"))
    assert f"{tmp_path / 'vgg.pth'}: file not found" in line


@pytest.mark.slow
@pytest.mark.parametrize(("flag", "value"), [("--lr", "nan"), ("--lr", "inf"),
                                             ("--gamma", "nan"), ("--grad-clip", "nan")])
def test_non_finite_flags_exit_7(capsys: pytest.CaptureFixture[str], flag: str,
                                 value: str) -> None:
    line = _main_error(capsys, ConfigError.exit_code, flag, value)
    assert f"'{flag[2:].replace('-', '_')}'" in line and "finite" in line


def test_every_key_is_checked_before_any_data_is_read(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    line = _main_error(capsys, ConfigError.exit_code, "--seed", "-1", "--device", "cpu",
                       "--data", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "r"))
    assert line == "error: config key 'seed': must be in [0, 4294967295], got -1"
    conf = tmp_path / "deep.toml"
    conf.write_text("milestones = " + "[" * 3000 + "]" * 3000 + "\n")
    line = _main_error(capsys, ConfigError.exit_code, "--config", str(conf))
    assert "nested too deeply" in line
    assert not (tmp_path / "r").exists()


def test_a_folder_of_the_users_files_is_no_run_folder(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    conf = mine / "config.toml"
    text = '# my run, commented\nsteps = 5\ndevice = "cpu"\nnum_blocks = 1\nchannels = 8\n'
    conf.write_text(text)
    (mine / "metrics.jsonl").write_text('{"step": 1, "mine": true}\n')
    for resume in ((), ("--resume", "auto")):
        line = _main_error(capsys, OutputError.exit_code, "--config", str(conf),
                           "--run-dir", str(mine), *resume)
        assert f"run folder {mine} holds files that no training run wrote (config.toml, " \
               "metrics.jsonl)" in line, line
        # the option by its flag once the CLI renders messages.option() as flags
        assert line.endswith(("with --run-dir", "with run_dir")), line
    assert conf.read_text() == text
    assert (mine / "metrics.jsonl").read_text() == '{"step": 1, "mine": true}\n'


def test_val_every_without_val_data_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Validating on nothing says so before any training (the default 1000 stays quiet)."""
    line = _main_error(capsys, ConfigError.exit_code, "--val-every", "20", "--run-dir",
                       str(tmp_path / "r"), "--device", "cpu")
    # the option names show as flags once the CLI renders them so (messages.options_as_flags)
    assert re.search(r"val[-_]every 20 scores the generator on (--)?val[-_]data, which is not "
                     r"given", line), line
    conf = tmp_path / "c.toml"
    conf.write_text("val_every = 5\n")
    line = _main_error(capsys, ConfigError.exit_code, "--config", str(conf), "--run-dir",
                       str(tmp_path / "r"))
    assert re.search(r"val[-_]every 5 scores", line), line
