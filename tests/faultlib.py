"""Fault injection for tests/test_faults.py: real processes killed at chosen points, disk full
at chosen write stages, and processes paused at a point so that two of them race.

Points are *events*, counted in the order a process meets them:

- ``<stage>:<name>`` for every ``fileio.atomic_write`` of the final file ``<name>`` at the
  stages of ``fileio.fault_hook`` ("body", "fsync", "publish");
- ``step<N>:before`` / ``step<N>:after`` around the update of training step N.

A process runs the real CLI (``srgan_cli.cli.app.main``) with hooks installed from a spec:
``{"events": FILE}`` appends each event to FILE (flushed, so a SIGKILL keeps them);
``{"kill": {"signal": "SIGTERM", "at": K}}`` sends the signal to itself at event K (0-based);
``{"pause": {"match": TEXT, "ready": FILE, "go": FILE}}`` at the first event containing TEXT
writes its PID to `ready` and waits for `go` to exist; ``{"steps": false}`` leaves training
steps out (and torch unimported).

Two ways to run it: ``python faultlib.py hooked SPEC_JSON ARGS...`` (one process, as the
console script would run), and `ForkServer`: one process that imports torch and the package
once and forks a child per run, so that sixty killed-and-resumed runs cost seconds, not
minutes. A forked child is a fresh process for everything that matters here: its own PID
(stale-temp detection), default signal dispositions, its own stdout/stderr files.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds for one run; a hang fails the test instead of the session
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
       "OMP_NUM_THREADS": "1", "SRGAN_DEBUG": ""}


# ----------------------------------------------------------------------------- in the test


def temps(*folders: Path) -> list[Path]:
    """Every temp file of ``fileio.atomic_write`` (``.*.part``) under `folders`."""
    return sorted(p for f in folders if f.exists() for p in f.rglob(".*.part"))


def enospc(stage: str, pattern: str, nth: int = 1,
           failed: list[Path] | None = None) -> Callable[[str, Path], None]:
    """A ``fileio.fault_hook`` raising ENOSPC at `stage` of the `nth` write of a file whose
    name matches the glob `pattern`; the temp it failed is appended to `failed`."""
    seen = {"n": 0}

    def hook(at: str, tmp: Path) -> None:
        if at == stage and fnmatch.fnmatchcase(final_name(tmp), pattern):
            seen["n"] += 1
            if seen["n"] == nth:
                if failed is not None:
                    failed.append(tmp)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    return hook


def final_name(tmp: Path) -> str:
    """The final file name a temp of `fileio.atomic_write` stands for (cut names stay cut)."""
    from srgan_cli import fileio

    m = fileio._TEMP_RE.fullmatch(tmp.name)
    return m["name"] if m else tmp.name


def wait_for(path: Path, proc: subprocess.Popen[Any] | None = None,
             timeout: float = TIMEOUT) -> None:
    """Wait until `path` exists (failing early if `proc` ends first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended early ({proc.returncode}): {err[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {path}"
        time.sleep(0.02)


def hooked(spec: dict[str, Any], argv: list[str], cwd: Path,
           code: str | None = None) -> subprocess.Popen[str]:
    """Start ``srgan ARGV`` in a new process with the hooks of `spec` installed (or, with
    `code`, that Python code with ARGV as ``sys.argv[1:]``)."""
    mode = ["hooked", json.dumps(spec)] if code is None else ["code", json.dumps(spec), code]
    return subprocess.Popen([sys.executable, __file__, *mode, *argv], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def paused_pair(specs: list[dict[str, Any]], argvs: list[list[str]], cwd: Path,
                code: str | None = None) -> list[tuple[int, str, str]]:
    """Run two hooked processes that each pause at their spec's point, release them together
    and return (exit code, stdout, stderr) of each: a race with both at the starting line."""
    procs = [hooked(spec, argv, cwd, code) for spec, argv in zip(specs, argvs, strict=True)]
    try:
        for spec, proc in zip(specs, procs, strict=True):
            wait_for(Path(spec["pause"]["ready"]), proc)
        for spec in specs:
            Path(spec["pause"]["go"]).touch()
        outs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outs, strict=True)]


class Result:
    """How a run ended: `status` (exit code, or -signal), its output and its events."""

    def __init__(self, status: int, stdout: str, stderr: str, events: list[str]) -> None:
        self.status, self.stdout, self.stderr, self.events = status, stdout, stderr, events

    def __repr__(self) -> str:
        return f"Result({self.status}, stderr={self.stderr[-1500:]!r})"


class ForkServer:
    """One process with torch and srgan_cli imported that forks a child per `run`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._n = 0
        self.proc = subprocess.Popen([sys.executable, __file__, "serve"], env=ENV, cwd=workdir,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)
        assert self._read() == {"ready": True}

    def run(self, argv: list[str], *, cwd: Path, kill: tuple[str, int] | None = None,
            env: dict[str, str] | None = None) -> Result:
        """Run ``srgan ARGV`` in a forked child; `kill` = (signal name, event index)."""
        self._n += 1
        base = self.workdir / f"run{self._n}"
        spec: dict[str, Any] = {"events": f"{base}.events"}
        if kill is not None:
            spec["kill"] = {"signal": kill[0], "at": kill[1]}
        out, err = Path(f"{base}.out"), Path(f"{base}.err")
        req = {"argv": argv, "cwd": str(cwd), "env": env or {}, "spec": spec,
               "stdout": str(out), "stderr": str(err)}
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        status = self._read()["status"]
        events_file = Path(spec["events"])
        events = events_file.read_text().splitlines() if events_file.exists() else []
        return Result(status, out.read_text(), err.read_text(), events)

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        if not ready:
            self.close()
            raise AssertionError("a forked run hung (killed)")
        line = self.proc.stdout.readline()
        assert line, "the fork server died"
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the server and any child
            except ProcessLookupError:
                pass
        self.proc.wait()


# ----------------------------------------------------------------------------- in the process


def install(spec: dict[str, Any]) -> None:
    """Install the hooks of `spec` (see the module notes) in this process."""
    from srgan_cli import fileio

    events = open(spec["events"], "a") if spec.get("events") else None
    kill, pause = spec.get("kill"), spec.get("pause")
    count = {"n": 0, "paused": False}

    def event(name: str) -> None:
        k = count["n"]
        count["n"] += 1
        if events is not None:
            events.write(name + "\n")
            events.flush()
        if pause is not None and not count["paused"] and pause["match"] in name:
            count["paused"] = True
            Path(pause["ready"]).write_text(str(os.getpid()))
            deadline = time.monotonic() + TIMEOUT
            while not Path(pause["go"]).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        if kill is not None and k == kill["at"]:
            os.kill(os.getpid(), getattr(signal, kill["signal"]))

    fileio.fault_hook = lambda stage, tmp: event(f"{stage}:{final_name(tmp)}")
    if spec.get("steps", True):
        _count_steps(event)


def _count_steps(event: Callable[[str], None]) -> None:
    """Make training steps events (imports torch: leave out where no training runs)."""
    from srgan_cli.training.loop import Trainer

    real_step = Trainer.train_step

    def train_step(self: Trainer, hr: torch.Tensor, lr_img: torch.Tensor
                   ) -> dict[str, torch.Tensor]:
        event(f"step{self.step + 1}:before")
        losses = real_step(self, hr, lr_img)
        event(f"step{self.step + 1}:after")
        return losses

    Trainer.train_step = train_step  # type: ignore[method-assign]


def _main_exit_code(argv: list[str]) -> int:
    from srgan_cli.cli.app import main

    try:
        main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


def _serve() -> None:
    """Fork server loop: one JSON request a line on stdin, one JSON status a line on stdout."""
    import importlib

    for name in ("srgan_cli.cli.app", "srgan_cli.training.loop", "srgan_cli.cli.commands",
                 "torch._inductor",  # torch.use_deterministic_algorithms imports it: seconds
                 "torch.utils.tensorboard", "srgan_cli.upscaling.batch", "srgan_cli.media.decode",
                 "srgan_cli.cli.train_cmd", "srgan_cli.cli.upscale_cmd",
                 "srgan_cli.training.run"):
        try:  # the imports every child would repeat
            importlib.import_module(name)
        except ImportError:
            pass

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 99
            try:
                os.chdir(req["cwd"])
                os.environ.update(req["env"])
                for fd, name in ((1, "stdout"), (2, "stderr")):
                    out = os.open(req[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    os.dup2(out, fd)
                    os.close(out)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                install(req["spec"])
                code = _main_exit_code(req["argv"])
            except BaseException:  # a failure of the harness itself: show it in stderr
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"status": code}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        _serve()
    elif sys.argv[1] == "hooked":
        install(json.loads(sys.argv[2]))
        sys.exit(_main_exit_code(sys.argv[3:]))
    elif sys.argv[1] == "code":
        install(json.loads(sys.argv[2]))
        source = sys.argv[3]
        sys.argv = [sys.argv[0], *sys.argv[4:]]
        exec(compile(source, "<faultlib code>", "exec"), {"__name__": "__main__"})
