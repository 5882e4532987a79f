"""The options boundary: every user value parsed once, good and bad, exactly; no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from srgan_cli import options
from srgan_cli.errors import DeviceError, UnknownDeviceError, UsageError
from srgan_cli.options import (
    DeviceSpec,
    check_float,
    check_memory_budget,
    check_metrics,
    check_name_part,
    check_quality,
    check_tiling,
    parse_bytes,
    parse_device,
    parse_precision,
)

CHOICES = "expected auto, cpu, cuda, cuda:N or mps"


@pytest.mark.parametrize(("text", "kind", "index"), [
    ("auto", "auto", None), ("cpu", "cpu", None), (" CPU ", "cpu", None), ("mps", "mps", None),
    ("cuda", "cuda", None), ("CUDA", "cuda", None), ("cuda:1", "cuda", 1),
    ("cuda:12", "cuda", 12)])
def test_device_names(text: str, kind: str, index: int | None) -> None:
    spec = parse_device(text)
    assert spec == DeviceSpec(kind, index, text)
    assert parse_device(spec) is spec


@pytest.mark.parametrize("text", ["foo", "gpu", "gpu0", "tpu", "cuda:x", "cuda:-1", "cpu:0",
                                  "mps:1", "cuda:", ""])
def test_unknown_device_is_a_usage_error(text: str) -> None:
    with pytest.raises(UnknownDeviceError) as e:
        parse_device(text)
    assert str(e.value) == f"unknown device {text!r}: {CHOICES}"
    assert isinstance(e.value, UsageError) and e.value.exit_code == 2
    with pytest.raises(UsageError) as usage:
        parse_device(text, "device")
    assert str(usage.value) == f"device {text!r}: unknown device, {CHOICES}"


def test_precision_names() -> None:
    assert options.PRECISIONS == ("auto", "fp32", "bf16", "fp16")
    for text, name in (("auto", "auto"), (" FP32 ", "fp32"), ("bf16", "bf16"), ("Fp16", "fp16")):
        assert parse_precision(text) == name
    for bad in ("int8", "fp64", "", "half"):
        with pytest.raises(DeviceError) as e:
            parse_precision(bad)
        assert str(e.value) == f"unknown precision {bad!r}: expected auto, fp32, bf16 or fp16"


def test_parse_bytes() -> None:
    assert parse_bytes("2G") == 2 << 30
    assert parse_bytes("1.5GiB") == 3 << 29
    assert parse_bytes("512m") == 512 << 20
    assert parse_bytes("800000") == 800000
    assert parse_bytes("64 KB") == 64 << 10
    assert parse_bytes(".5k") == 512
    assert parse_bytes("1T") == 1 << 40
    for bad in ("", "G", "-1G", "2X", "1.2.3M"):
        with pytest.raises(UsageError) as e:
            parse_bytes(bad)
        assert str(e.value) == ("memory_budget: expected a size such as 2G, 512M or 1.5GiB, "
                                f"got {bad!r}")
    for tiny in ("0", "0.5"):
        with pytest.raises(UsageError) as e:
            parse_bytes(tiny)
        assert str(e.value) == f"memory_budget must be at least 1 byte, got {tiny!r}"


def test_memory_budget() -> None:
    assert check_memory_budget(None) is None and check_memory_budget(1) == 1
    for bad in (0, -5):
        with pytest.raises(UsageError) as e:
            check_memory_budget(bad)
        assert str(e.value) == f"memory_budget must be positive, got {bad}"


def test_tiling_options_checked_in_one_place() -> None:
    check_tiling(None, None, 1)
    check_tiling(options.WHOLE_IMAGE, 0, 4)
    for args, message in (((-1, None, 1), "tile must be >= 0 (0 = whole image), got -1"),
                          ((8, -1, 1), "tile_pad must be >= 0, got -1"),
                          ((8, 2, 0), "batch_size must be >= 1, got 0")):
        with pytest.raises(UsageError) as e:
            check_tiling(*args)
        assert str(e.value) == message


def test_metrics() -> None:
    assert check_metrics(["PSNR", " ssim", "psnr", "lpips"]) == ("psnr", "ssim", "lpips")
    assert check_metrics(options.DEFAULT_METRICS) == ("psnr", "ssim")
    with pytest.raises(UsageError) as e:
        check_metrics(["psnr", "fid"])
    assert str(e.value) == "metrics 'fid': unknown metric, expected psnr, ssim, lpips"
    with pytest.raises(UsageError) as e:
        check_metrics([])
    assert str(e.value) == "metrics '': unknown metric, expected psnr, ssim, lpips"


def test_quality() -> None:
    assert check_quality(None) is None and check_quality(1) == 1 and check_quality(100) == 100
    for bad in (0, 101, True, 9.5, "90"):
        with pytest.raises(UsageError) as e:
            check_quality(bad)  # type: ignore[arg-type]
        assert str(e.value) == f"quality must be a whole number from 1 to 100, got {bad!r}"


def test_floats_are_finite_and_in_range() -> None:
    assert check_float(None, "outscale", low=0, high=10, low_open=True) is None
    assert check_float(10, "outscale", low=0, high=10, low_open=True) == 10.0
    assert check_float(0, "alpha", low=0, high=1) == 0.0
    for bad in (0, -1.0, 10.5, float("inf"), float("-inf"), float("nan"), True, "2"):
        with pytest.raises(UsageError) as e:
            check_float(bad, "outscale", low=0, high=10, low_open=True)  # type: ignore[arg-type]
        assert str(e.value) == f"outscale must be positive and at most 10, got {bad!r}"
    for bad in (-0.5, 1.5, float("nan"), float("inf")):
        with pytest.raises(UsageError) as e:
            check_float(bad, "alpha", low=0, high=1, hint=" (0: A, 1: B)")
        assert str(e.value) == f"alpha must be in [0, 1] (0: A, 1: B), got {bad!r}"
    with pytest.raises(UsageError, match=r"^x must be in \(-1, 1\], got -1$"):
        check_float(-1, "x", low=-1, high=1, low_open=True)


def test_name_parts_stay_in_their_folder() -> None:
    assert check_name_part(None, "suffix") is None
    for good in ("", "_x4", "-big", ".v2", "a.b"):
        assert check_name_part(good, "suffix") == good
    for bad in ("/x", "a/b", "a\\b", "..", "a..b", "/../..", "a\x00b"):
        with pytest.raises(UsageError) as e:
            check_name_part(bad, "suffix")
        assert str(e.value).startswith("suffix '") and "\x00" not in str(e.value)
        assert str(e.value).endswith(": must not hold a path separator, NUL or '..' (it "
                                     "becomes part of output file names)")


def test_offline_one_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.cli.doctor_report import gather

    for value, off in (("1", True), ("yes", True), ("TRUE", True), ("on", True), ("0", False),
                       ("", False), (" ", False), ("false", False), ("No", False), ("off", False)):
        monkeypatch.setenv("SRGAN_OFFLINE", value)
        assert options.offline() is off and options.offline(True) is True
    monkeypatch.setenv("SRGAN_OFFLINE", "yes")
    assert gather()["offline"] is True  # doctor reports the rule that downloads obey
    monkeypatch.delenv("SRGAN_OFFLINE")
    assert options.offline() is False
    monkeypatch.setenv("SRGAN_OFFLINE", "maybe")
    with pytest.raises(UsageError, match="SRGAN_OFFLINE='maybe': expected 1/0, true/false"):
        options.offline()
    monkeypatch.setenv("SRGAN_DEBUG", "maybe")
    assert options.debug() is False  # the error handler's own switch never fails
    monkeypatch.setenv("SRGAN_CPU_BF16", "2")
    with pytest.raises(UsageError, match="SRGAN_CPU_BF16"):
        options.cpu_bf16_forced()


def test_environment_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SRGAN_WEIGHTS_DIR", "SRGAN_CPU_BF16", "SRGAN_DEBUG", "SRGAN_DATA", "NO_COLOR",
                 "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    assert options.weights_dir_env() is None and options.data_root_env() is None
    assert options.cpu_bf16_forced() is None and not options.debug() and not options.no_color()
    assert options.cache_home() == Path.home() / ".cache"
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("SRGAN_DATA", "~/sets")
    monkeypatch.setenv("SRGAN_DEBUG", "1")
    monkeypatch.setenv("NO_COLOR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert options.weights_dir_env() == tmp_path
    assert options.data_root_env() == Path.home() / "sets"
    assert options.debug() and options.no_color() and options.cache_home() == tmp_path
    for value, forced in (("1", True), ("0", False), ("yes", True), ("", None)):
        monkeypatch.setenv("SRGAN_CPU_BF16", value)
        assert options.cpu_bf16_forced() is forced


def test_the_package_reads_the_environment_only_here() -> None:
    package = Path(options.__file__).parent
    readers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                     if "os.environ.get(" in p.read_text() or "getenv(" in p.read_text())
    assert readers == ["distributed.py", "options.py"]  # torchrun's RANK, WORLD_SIZE


def test_options_import_no_torch_numpy_or_pillow() -> None:
    code = ("import sys, srgan_cli.options, srgan_cli.cli.params; "
            "print(sorted({'torch', 'numpy', 'PIL'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_dist_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SRGAN_DIST_TIMEOUT", raising=False)
    assert options.dist_timeout() == options.DEFAULT_DIST_TIMEOUT == 1800
    monkeypatch.setenv("SRGAN_DIST_TIMEOUT", " 600 ")
    assert options.dist_timeout() == 600
    for bad in ("soon", "0", "-5", "inf", "nan"):
        monkeypatch.setenv("SRGAN_DIST_TIMEOUT", bad)
        with pytest.raises(UsageError) as info:
            options.dist_timeout()
        assert str(info.value) == (f"SRGAN_DIST_TIMEOUT={bad!r}: expected a positive number "
                                   "of seconds")
