"""SIGTERM and SIGHUP during `srgan upscale` end it like Ctrl-C (exit 130, 'interrupted', no
temp file, every written output whole); a later run removes stale temp files of killed runs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import child_env, noise_pngs
from PIL import Image

from srgan_cli.errors import EXIT_INTERRUPTED

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_terminate_is_an_interrupt(tmp_path: Path, sig: signal.Signals) -> None:
    noise_pngs(tmp_path / "in", 60, (96, 96))
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "srgan_cli", "upscale", "in", "-o", "out",
                          "-m", "bicubic"], cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.01)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == EXIT_INTERRUPTED, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted" and "Traceback" not in stderr
    written = sorted(out.glob("*.png"))
    assert 0 < len(written) < 60, "the run ended before the signal: use more images"
    assert [f.name for f in out.iterdir() if f.name.startswith(".")] == []  # no temp file
    for f in written:
        with Image.open(f) as im:
            im.load()
            assert im.size == (384, 384)
    # the images reported done are exactly the ones on disk
    done = [line.split(" -> ")[1].split("  ")[0] for line in stdout.splitlines() if " -> " in line]
    assert sorted(Path(tmp_path / d).name for d in done) == [f.name for f in written], (
        stdout, stderr)


@pytest.mark.slow
def test_stale_temps_are_removed_and_reported(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "in", 2, (8, 8))
    out = tmp_path / "out"
    out.mkdir()
    # a temp name made by a process that has ended: its writer is gone
    name = subprocess.run([sys.executable, "-c", "from srgan_cli.fileio import temp_name; "
                           "print(temp_name('0.png'))"], capture_output=True, text=True,
                          env=child_env(), check=True).stdout.strip()
    (out / name).write_bytes(b"torn")
    (out / ".keep.part").write_bytes(b"not ours")
    p = subprocess.run([sys.executable, "-m", "srgan_cli", "upscale", "in", "-o", "out", "-m",
                        "bicubic"], cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "removed 1 stale temp file(s) in out" in p.stderr
    assert not (out / name).exists() and (out / ".keep.part").exists()


def test_stop_requests_asks_first_and_interrupts_on_the_second_signal() -> None:
    from srgan_cli.signals import stop_requests

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    asked: list[str] = []
    with stop_requests(asked.append) as request:
        signal.raise_signal(signal.SIGHUP)
        assert request.requested and request.signal == "SIGHUP" and asked == ["SIGHUP"]
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            signal.raise_signal(signal.SIGTERM)
    assert {s: signal.getsignal(s) for s in before} == before
