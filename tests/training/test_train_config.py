"""Training config: TOML + overrides, strict keys and types, value checks, repo configs."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import fields
from pathlib import Path

import pytest

from srgan_cli.errors import ConfigError
from srgan_cli.training.config import (
    FIELD_NAMES,
    OneOf,
    Range,
    Text,
    TrainConfig,
    from_mapping,
    help_of,
    load_toml,
    resolve,
    to_toml,
)
from srgan_cli.training.schedule import lr_factor

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_are_valid_and_documented() -> None:
    TrainConfig().validate()
    assert all(help_of(name).endswith(".") for name in FIELD_NAMES)  # one text per field


def test_toml_then_overrides(tmp_path: Path) -> None:
    p = _write(tmp_path / "c.toml", 'stage = "psnr"\nlr = 1\nsteps = 10\ndata = "a"\n'
               "milestones = [3, 6]\nchannels_last = false\n")
    cfg = resolve(p, {"steps": 20, "batch_size": None, "data": ["x", "y"]})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)  # int accepted for a float
    assert cfg.steps == 20  # the flag wins over the file
    assert cfg.batch_size == TrainConfig().batch_size  # None = not given
    assert cfg.data == ["x", "y"] and cfg.milestones == [3, 6] and cfg.channels_last is False
    assert resolve(p, {}).data == ["a"]  # a single string where a list is expected
    # a [train] table is flattened too
    q = _write(tmp_path / "t.toml", "[train]\nscale = 2\npatch_size = 64\n")
    assert (resolve(q, {}).scale, resolve(q, {}).patch_size) == (2, 64)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("learning_rate = 1e-4\n", "learning_rate"),
        ("[model]\nchannels = 8\n", "model"),
        ("lr = \"fast\"\n", "lr"),
        ("steps = 1.5\n", "steps"),
        ("channels_last = 1\n", "channels_last"),
        ("batch_size = true\n", "batch_size"),
        ("milestones = 5\n", "milestones"),
        ("milestones = [1, \"x\"]\n", "milestones"),
        ("stage = \"wgan\"\n", "stage"),
        ("scale = 5\n", "scale"),
        ("patch_size = 30\n", "patch_size"),
        ("stage = \"gan\"\npatch_size = 24\n", "patch_size"),
        ("ema = 1.0\n", "ema"),
        ("lr = 0\n", "lr"),
        ("batch_size = 0\n", "batch_size"),
        ("amp = \"fp8\"\n", "amp"),
        ("data = []\n", "data"),
        ("data = [\"a\", \"b\"]\nlr_data = [\"c\"]\n", "lr_data"),
        ("beta1 = 1.0\n", "beta1"),
        ("beta2 = -0.1\n", "beta2"),
        ("gamma = 0\n", "gamma"),
        ("min_lr = 1.0\n", "min_lr"),
        ("warmup_steps = -1\n", "warmup_steps"),
        ("grad_clip = -1\n", "grad_clip"),
        ("adv_weight = -1e-3\n", "adv_weight"),
        ("weight_decay = -1\n", "weight_decay"),
        ("workers = -2\n", "workers"),
        ("milestones = [-5]\n", "milestones"),
        ("schedule = \"linear\"\n", "schedule"),
    ],
)
def test_bad_key_type_or_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    p = _write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        resolve(p, {})
    msg = str(info.value)
    assert f"'{key}'" in msg and "\n" not in msg


def test_unknown_key_suggests_close_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'patch'.*patch_size"):
        from_mapping({"patch": 48})


def test_bad_toml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_toml(tmp_path / "missing.toml")
    p = _write(tmp_path / "broken.toml", "lr = = 3\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not a valid TOML"):
        load_toml(p)


def test_to_toml_round_trip(tmp_path: Path) -> None:
    cfg = TrainConfig(data=["a b", 'q"uote\\d'], lr=1e-5, milestones=[2, 4], ema=0.999,
                      run_dir="r", deterministic=True, min_lr=0.0)
    p = _write(tmp_path / "config.toml", to_toml(cfg))
    assert resolve(p, {}) == cfg
    assert set(load_toml(p)) == {f.name for f in fields(TrainConfig)}


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_repo_configs_load_and_validate(path: Path) -> None:
    cfg = resolve(path, {})
    assert cfg == from_mapping(load_toml(path))


def test_repo_has_configs() -> None:
    assert list((REPO / "configs").glob("*.toml"))


def test_lr_schedules() -> None:
    assert lr_factor(5, 10, "constant") == 1.0
    assert [lr_factor(s, 10, "constant", warmup=4) for s in range(5)] == [0.25, 0.5, 0.75, 1, 1]
    assert lr_factor(0, 10, "cosine", min_ratio=0.1) == pytest.approx(1.0)
    assert lr_factor(5, 10, "cosine", min_ratio=0.1) == pytest.approx(0.55)
    assert lr_factor(10, 10, "cosine", min_ratio=0.1) == pytest.approx(0.1)
    assert [lr_factor(s, 10, "step", milestones=[2, 4], gamma=0.5) for s in (1, 2, 4)] == [
        1.0, 0.5, 0.25]
    assert [lr_factor(s, 10, "halve") for s in (4, 5)] == [1.0, 0.1]


def test_schedule_auto_is_constant_for_psnr_and_halve_for_gan() -> None:
    from srgan_cli.training.config import TrainConfig
    from srgan_cli.training.schedule import effective_schedule

    assert TrainConfig().schedule == "auto"
    assert effective_schedule(TrainConfig(stage="psnr")) == "constant"
    assert effective_schedule(TrainConfig(stage="gan")) == "halve"
    assert effective_schedule(TrainConfig(stage="gan", schedule="cosine")) == "cosine"


@pytest.mark.slow
def test_old_lr_data_key_and_flag_map_to_lowres_data(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    p = _write(tmp_path / "old.toml", 'data = ["hr"]\nlr_data = ["lr"]\n')
    assert resolve(p, {}).lowres_data == ["lr"]  # configs of older runs still load
    assert from_mapping({"lowres_data": ["x"]}).lowres_data == ["x"]
    assert "lr_data" not in FIELD_NAMES  # one field, one name in saved configs

    from srgan_cli.cli.app import main
    from srgan_cli.training import run

    seen: list[dict[str, object]] = []

    def run_training(c: object, o: dict[str, object], resume: object = None,
                     progress: object = None) -> dict[str, object]:
        seen.append(o)
        return {}

    monkeypatch.setattr(run, "run_training", run_training)
    for flag in ("--lowres-data", "--lr-data"):
        main(["train", "--data", "hr", flag, "lr"])
    assert [o["lowres_data"] for o in seen] == [["lr"], ["lr"]]


FLOAT_KEYS = [f.name for f in fields(TrainConfig) if f.type in (float, "float")]


def test_every_float_option_is_checked_for_nan_and_inf() -> None:
    assert set(FLOAT_KEYS) >= {"lr", "gamma", "grad_clip", "min_lr", "ema", "adv_weight",
                               "beta1", "beta2", "weight_decay"}


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_float_in_toml_names_the_key(tmp_path: Path, key: str, value: str) -> None:
    p = _write(tmp_path / "bad.toml", f"{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        resolve(p, {})
    msg = str(info.value)
    assert f"'{key}'" in msg and "finite" in msg and "\n" not in msg


@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_non_finite_float_flag_names_the_key(key: str) -> None:
    for value in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=f"'{key}': must be a finite number"):
            resolve(None, {key: value})


# ----------------------------------------------------------------------------- bounds of every key


def test_every_key_has_documented_bounds() -> None:
    """Each key but a bool has bounds in its field metadata; a number's are a Range (or the
    choices) and show in its help."""
    for f in fields(TrainConfig):
        bounds = f.metadata["bounds"]
        if f.type in (bool, "bool"):
            assert bounds is None, f.name
            continue
        assert isinstance(bounds, (Range, OneOf, Text)), f.name
        if f.type in (int, float, "int", "float", list[int], "list[int]"):
            assert isinstance(bounds, (Range, OneOf)), f.name
        if isinstance(bounds, Range):
            assert help_of(f.name).endswith(f" Range: {bounds}."), f.name


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("seed", -1), ("seed", 2**40), ("channels", 200_000), ("num_blocks", 100_000_000),
        ("batch_size", 10**6), ("patch_size", 10**6), ("steps", 10**12), ("workers", 10**6),
        ("save_every", 10**12), ("log_every", 0), ("val_every", -1), ("warmup_steps", 10**12),
        ("lr", 5.0), ("gamma", 3.0), ("min_lr", 2.0), ("weight_decay", 2.0),
        ("adv_weight", 1e9), ("grad_clip", 1e12), ("milestones", [10**12]),
    ],
)
def test_a_number_out_of_its_range_names_the_key_and_range(key: str, value: object) -> None:
    bounds = next(f.metadata["bounds"] for f in fields(TrainConfig) if f.name == key)
    with pytest.raises(ConfigError) as info:
        resolve(None, {key: value})
    msg = str(info.value)
    assert msg.startswith(f"config key '{key}': ") and f"in {bounds}, got " in msg, msg
    assert "\n" not in msg


def test_lists_and_texts_are_bounded() -> None:
    with pytest.raises(ConfigError, match=r"'milestones': at most 256 values, got 300"):
        resolve(None, {"milestones": list(range(300))})
    with pytest.raises(ConfigError, match=r"'data': at most 256 values"):
        resolve(None, {"data": ["x"] * 257})
    with pytest.raises(ConfigError, match=r"'run_dir': must be a text of at most 4096 "
                                          r"characters without NUL, got a NUL character"):
        resolve(None, {"run_dir": "runs/a\x00b"})
    with pytest.raises(ConfigError, match=r"'val_data': .*got 5000 characters"):
        resolve(None, {"val_data": "v" * 5000})


# ----------------------------------------------------------------------------- the config file


def test_a_config_file_is_a_small_regular_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": not a regular file \(a folder\)$"):
        load_toml(tmp_path)
    with pytest.raises(ConfigError, match=r"/dev/zero: not a regular file \(a character device"):
        load_toml("/dev/zero")  # read until MemoryError, once
    big = _write(tmp_path / "big.toml", "# padding\n" * 110_000)  # > 1 MiB of valid TOML
    with pytest.raises(ConfigError, match=r"big\.toml: larger than 1 MiB"):
        load_toml(big)
    assert load_toml(_write(tmp_path / "ok.toml", "# padding\n" * 100_000)) == {}
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'run_dir = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml: not a valid TOML file \(not UTF-8"):
        load_toml(latin1)


def test_a_fifo_config_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    done = threading.Event()

    def unblock() -> None:
        """Stand-in writer: should the reader block in open(), give it an empty file."""
        while not done.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO while no reader
            except OSError:
                time.sleep(0.05)

    writer = threading.Thread(target=unblock, daemon=True)
    writer.start()
    try:
        with pytest.raises(ConfigError, match=r"config\.toml: not a regular file \(a FIFO\)"):
            load_toml(fifo)
    finally:
        done.set()
        writer.join()


def test_deeply_nested_toml_is_a_config_error(tmp_path: Path) -> None:
    deep = _write(tmp_path / "deep.toml", "milestones = " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.toml: not a valid TOML file \(arrays or "
                                          "tables nested too deeply\\)"):
        load_toml(deep)
