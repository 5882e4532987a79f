"""fileio: temp names that fit, no-clobber publishing, stale temps, disk full, check_target."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from srgan_cli import fileio
from srgan_cli.errors import OutputError
from srgan_cli.fileio import atomic_write, check_target, clean_stale_temps, temp_name


def _files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def _catch_tmp(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    monkeypatch.setattr(fileio, "fault_hook", lambda stage, tmp: seen.append(tmp))
    return seen


# --------------------------------------------------------------------------- temp names


@pytest.mark.parametrize("name", ["a" * 251 + ".png", "é" * 125 + ".png", "日" * 83 + ".png"])
def test_longest_final_names_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  name: str) -> None:
    assert 250 <= len(name.encode()) <= 255
    seen = _catch_tmp(monkeypatch)
    with atomic_write(tmp_path / name) as tmp:
        tmp.write_bytes(b"data")
    assert (tmp_path / name).read_bytes() == b"data" and _files(tmp_path) == [name]
    assert len(seen[0].name.encode()) <= 255 and seen[0].name.startswith(".")
    assert seen[0].name.endswith(".part")


def test_temp_name_budget() -> None:
    for n in range(1, 300, 7):
        for char in ("x", "é", "日", "🙂"):
            name = char * n
            for name_max in (255, 143, 60):
                t = temp_name(name, name_max)
                assert len(t.encode("utf-8")) <= name_max
                t.encode("utf-8")  # whole characters: no half of a multi-byte one
                assert fileio._TEMP_RE.fullmatch(t)
    short = temp_name("x.png")
    assert short.startswith(".x.png.srg") and short.endswith(".part")
    a, b = temp_name("a" * 300 + "1"), temp_name("a" * 300 + "2")
    assert a.split(".srg")[0] != b.split(".srg")[0]  # the hash tells cut names apart
    assert temp_name("x" * 50, 20).startswith("..srg")  # tiny limits: the tag alone


def test_temp_names_are_fresh(tmp_path: Path) -> None:
    assert len({temp_name("x.png") for _ in range(100)}) == 100


# --------------------------------------------------------------------------- publishing


def test_overwrite_default_replaces(tmp_path: Path) -> None:
    out = tmp_path / "o.bin"
    out.write_bytes(b"old")
    with atomic_write(out) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new" and _files(tmp_path) == ["o.bin"]


@pytest.mark.parametrize("how", ["renameat2", "link", "neither"])
def test_no_clobber_refuses_existing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     how: str) -> None:
    if how != "renameat2":
        monkeypatch.setattr(fileio, "_rename_noreplace", lambda src, dst: False)
    if how == "neither":
        def no_link(src: object, dst: object) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(fileio.os, "link", no_link)
    out = tmp_path / "o.bin"
    with atomic_write(out, overwrite=False) as tmp:
        tmp.write_bytes(b"first")
    assert out.read_bytes() == b"first" and _files(tmp_path) == ["o.bin"]
    with pytest.raises(OutputError, match="o.bin: exists; use overwrite"):
        with atomic_write(out, overwrite=False) as tmp:
            tmp.write_bytes(b"second")
    assert out.read_bytes() == b"first" and _files(tmp_path) == ["o.bin"]


@pytest.mark.parametrize("how", ["renameat2", "link"])
def test_two_threads_racing_one_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     how: str) -> None:
    if how == "link":
        monkeypatch.setattr(fileio, "_rename_noreplace", lambda src, dst: False)
    both_done = threading.Barrier(2, timeout=10)
    monkeypatch.setattr(fileio, "fault_hook",
                        lambda stage, tmp: both_done.wait() if stage == "publish" else None)
    out = tmp_path / "race.png"
    results: dict[int, str] = {}

    def writer(i: int) -> None:
        try:
            with atomic_write(out, overwrite=False) as tmp:
                tmp.write_bytes(f"writer {i}".encode())
            results[i] = "won"
        except OutputError as e:
            results[i] = str(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, r in results.items() if r == "won"]
    assert len(winners) == 1, results
    loser = 1 - winners[0]
    assert "race.png: exists; use overwrite" in results[loser]
    assert out.read_bytes() == f"writer {winners[0]}".encode()
    assert _files(tmp_path) == ["race.png"]


_RACER = """
import os, sys, time
from pathlib import Path
from srgan_cli import fileio
from srgan_cli.errors import OutputError
folder, me = Path(sys.argv[1]), sys.argv[2]
def hook(stage, tmp):
    if stage == "publish":
        (folder / f"ready-{me}").touch()
        while not (folder / "go").exists():
            time.sleep(0.005)
fileio.fault_hook = hook
try:
    with fileio.atomic_write(folder / "out" / "race.png", overwrite=False) as tmp:
        tmp.write_bytes(me.encode())
    print("won")
except OutputError as e:
    print(e)
"""


def test_two_processes_racing_one_wins(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(tmp_path), str(i)],
                              stdout=subprocess.PIPE, text=True, env=env) for i in range(2)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(o == "won" for o in outs) == [False, True], outs
    winner = outs.index("won")
    assert "race.png: exists; use overwrite" in outs[1 - winner]
    assert (tmp_path / "out" / "race.png").read_bytes() == str(winner).encode()
    assert _files(tmp_path / "out") == ["race.png"]


# --------------------------------------------------------------------------- disk full


def _enospc(*_: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("stage", ["body", "fsync", "publish"])
@pytest.mark.parametrize("overwrite", [True, False])
def test_disk_full_at_each_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str,
                                 overwrite: bool) -> None:
    out = tmp_path / "ckpt.pt"
    if overwrite:
        out.write_bytes(b"previous")
    monkeypatch.setattr(fileio, "fault_hook",
                        lambda s, tmp: _enospc() if s == stage else None)
    with pytest.raises(OutputError) as info:
        with atomic_write(out, overwrite=overwrite) as tmp:
            tmp.write_bytes(b"x" * 1000)
    assert str(info.value).startswith(f"{out}: No space left on device")
    assert "\n" not in str(info.value)
    assert _files(tmp_path) == (["ckpt.pt"] if overwrite else [])
    if overwrite:
        assert out.read_bytes() == b"previous"


def test_disk_full_inside_body_and_at_create(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "o.png"
    out.write_bytes(b"previous")
    with pytest.raises(OutputError, match="o.png: No space left"):
        with atomic_write(out) as tmp:
            try:
                tmp.write_bytes(b"half")
                _enospc()
            except OSError as e:  # a writer that wraps the OS error keeps it as the cause
                raise RuntimeError("write failed") from e
    assert out.read_bytes() == b"previous" and _files(tmp_path) == ["o.png"]
    real_open = os.open

    def full_open(path: Any, flags: int, mode: int = 0o777) -> int:
        if ".srg" in str(path):
            _enospc()
        return real_open(path, flags, mode)

    monkeypatch.setattr(fileio.os, "open", full_open)
    with pytest.raises(OutputError, match="o.png: No space left"):
        with atomic_write(out):
            pass
    assert out.read_bytes() == b"previous"


def test_errors_without_errno_judged_by_free_space(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "last.pt"
    monkeypatch.setattr(fileio, "free_bytes", lambda folder: 0)
    with pytest.raises(OutputError, match="last.pt: No space left"):
        with atomic_write(out) as tmp:
            tmp.write_bytes(b"x")
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos 64 vs 0")
    monkeypatch.setattr(fileio, "free_bytes", lambda folder: 10 << 30)
    with pytest.raises(RuntimeError, match="unexpected pos"):
        with atomic_write(out) as tmp:
            raise RuntimeError("unexpected pos 64 vs 0")
    with pytest.raises(PermissionError):  # an OS error that says what it is stays itself
        monkeypatch.setattr(fileio, "free_bytes", lambda folder: 0)
        with atomic_write(out) as tmp:
            raise PermissionError(errno.EACCES, "Permission denied")
    assert _files(tmp_path) == []
    assert fileio.free_bytes(tmp_path.parent) is None or fileio.free_bytes(tmp_path) is not None


# --------------------------------------------------------------------------- stale temps


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _temp(folder: Path, final: str, pid: int, host: str, boot: str) -> Path:
    t = folder / f".{final}.srg{pid}-{host}{boot}-0123abcd.part"
    t.write_bytes(b"half")
    return t


def test_clean_stale_temps(tmp_path: Path) -> None:
    host, boot = fileio._host_boot()
    other = "f" * 6 if host != "f" * 6 else "e" * 6
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _temp(tmp_path, "a.png", _dead_pid(), host, boot)
        old_boot = _temp(tmp_path, "b.png", os.getpid(), host, "0" * 6 if boot != "0" * 6
                         else "1" * 6)
        mine = _temp(tmp_path, "c.png", os.getpid(), host, boot)
        live = _temp(tmp_path, "d.png", sleeper.pid, host, boot)
        elsewhere = _temp(tmp_path, "e.png", _dead_pid(), other, boot)
        kept = [mine, live, elsewhere]
        for name in ("x.png", ".x.png.1a2b3c4d.part", "notes.part"):
            (tmp_path / name).write_bytes(b"")
            kept.append(tmp_path / name)
        (tmp_path / dead.name.replace("a.png", "dir.png")).mkdir()  # a folder: never removed
        assert clean_stale_temps(tmp_path) == sorted([dead, old_boot])
        assert all(p.exists() for p in kept) and not dead.exists() and not old_boot.exists()
        assert clean_stale_temps(tmp_path) == []
        assert clean_stale_temps(tmp_path / "missing") == []
    finally:
        sleeper.kill()
        sleeper.wait()


def test_temp_of_a_killed_writer_is_cleaned(tmp_path: Path) -> None:
    script = ("import os, sys\nfrom srgan_cli.fileio import atomic_write\n"
              "with atomic_write(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'half')\n    os._exit(9)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "o.png")], env=env)
    left = _files(tmp_path)
    assert len(left) == 1 and left[0].startswith(".o.png.srg")
    assert [p.name for p in clean_stale_temps(tmp_path)] == left and _files(tmp_path) == []


# --------------------------------------------------------------------------- check_target


def test_check_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_target(tmp_path / "m.SAFETENSORS", overwrite=False,
                        suffixes={".safetensors"}) == tmp_path / "m.SAFETENSORS"
    with pytest.raises(OutputError, match="the model file must end in .safetensors"):
        check_target(tmp_path / "m.pt", overwrite=False, kind="model file",
                     suffixes={".safetensors"})
    with pytest.raises(OutputError, match=r"unknown output extension '\.gif' \(expected one"):
        check_target(tmp_path / "m.gif", overwrite=False, suffixes={".png", ".jpg"})
    with pytest.raises(OutputError, match="does not exist"):
        check_target(tmp_path / "no" / "x.png", overwrite=True)
    (tmp_path / "d.png").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_target(tmp_path / "d.png", overwrite=True)
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(OutputError, match="e.png: exists; use overwrite"):
        check_target(tmp_path / "e.png", overwrite=False)
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="exists"):
        check_target(tmp_path / "dangling.png", overwrite=False)
    assert check_target(tmp_path / "e.png", overwrite=True) == tmp_path / "e.png"
    with pytest.raises(OutputError) as info:
        check_target(tmp_path / "a\nb.gif", overwrite=False, suffixes={".png", ".jpg"})
    assert "\n" not in str(info.value) and "a\\nb.gif" in str(info.value)
    monkeypatch.setattr(fileio.os, "access", lambda p, m: False)
    with pytest.raises(OutputError, match="is not writable"):
        check_target(tmp_path / "ok.png", overwrite=False)


# --------------------------------------------------------------------------- reading


def test_not_a_regular_file_never_opens(tmp_path: Path) -> None:
    """What a path to read is, from stat alone: a FIFO is named without being opened (the
    watchdog would unblock an open after 5 s)."""
    import socket

    from helpers import fifo_watchdog

    from srgan_cli.fileio import not_a_regular_file

    (tmp_path / "f.png").write_bytes(b"x")
    (tmp_path / "link.png").symlink_to(tmp_path / "f.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s.png"))
        start = time.monotonic()
        with fifo_watchdog(tmp_path / "p.png"):
            got = {name: not_a_regular_file(tmp_path / name) for name in (
                "f.png", "link.png", "loop.png", "gone.png", "missing.png", "p.png", "s.png")}
            assert time.monotonic() - start < 4
    assert got == {
        "f.png": None, "link.png": None, "loop.png": "symlink loop", "gone.png": "no such file",
        "missing.png": "no such file", "p.png": "not a regular file (a FIFO)",
        "s.png": "not a regular file (a socket)"}
    assert not_a_regular_file(tmp_path) == "is a directory"
    assert not_a_regular_file("/dev/null") == "not a regular file (a character device)"
    assert not_a_regular_file(tmp_path / "f.png" / "x") == "no such file"
