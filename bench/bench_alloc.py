"""Allocation churn of an upscale: glibc's default malloc vs `allocator.keep_freed_memory`.

    python bench/bench_alloc.py [--size 512] [--rounds 2] [--precision auto]

Each way runs in its own child process (load, `Upscaler`, a warm-up upscale, then one timed
upscale of a `--size` crop of scikit-image's astronaut, x4), interleaved over `--rounds`, best
kept: wall and CPU seconds, system (kernel) CPU seconds and its share, minor page faults of the
timed upscale (getrusage), and the process's peak RSS. "default" replaces `keep_freed_memory`
by a no-op (every large tensor mmap'ed fresh and unmapped on free); outputs are compared.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def child(way: str, size: int, precision: str, dst: str) -> None:
    from skimage import data

    from srgan_cli.models.loading import load
    from srgan_cli.upscaling import upscaler

    if way == "default":
        upscaler.keep_freed_memory = lambda budget: False  # type: ignore[assignment]
    arr = np.ascontiguousarray(data.astronaut()[:size, :size])
    up = upscaler.Upscaler(load("srresnet_x4"), device="cpu", precision=precision, tile=None)
    up.upscale_array(arr)
    r0, w = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    out = up.upscale_array(arr)
    r1, w = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - w
    np.save(dst, out)
    print(json.dumps({"wall": w, "user": r1.ru_utime - r0.ru_utime,
                      "sys": r1.ru_stime - r0.ru_stime, "faults": r1.ru_minflt - r0.ru_minflt,
                      "rss_mb": r1.ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--dst", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.size, a.precision, a.dst)
        return
    work = Path(tempfile.mkdtemp(prefix="bench_alloc_"))
    best: dict[str, dict[str, float]] = {}
    for _ in range(a.rounds):
        for way in ("default", "keep freed"):
            run = subprocess.run([sys.executable, __file__, "--child", way, "--size", str(a.size),
                                  "--precision", a.precision, "--dst", str(work / f"{way}.npy")],
                                 capture_output=True, text=True, check=True)
            r = json.loads(run.stdout.strip().splitlines()[-1])
            old = best.get(way)
            if old is None or r["user"] + r["sys"] < old["user"] + old["sys"]:
                best[way] = r
    same = np.array_equal(np.load(work / "default.npy"), np.load(work / "keep freed.npy"))
    print(f"srresnet_x4 x4 on a {a.size}x{a.size} crop, --precision {a.precision}, best (least "
          f"CPU) of {a.rounds} interleaved rounds; outputs identical: {same}")
    for way, r in best.items():
        cpu = r["user"] + r["sys"]
        print(f"{way:10s} wall {r['wall']:6.2f} s, CPU {cpu:6.2f} s (system {r['sys']:5.2f} s, "
              f"{100 * r['sys'] / cpu:4.1f}%), {r['faults']:9d} page faults, peak RSS "
              f"{r['rss_mb']:.0f} MB")
    d, k = best["default"], best["keep freed"]
    print(f"keep freed vs default: CPU {(d['user'] + d['sys']) / (k['user'] + k['sys']):.2f}x, "
          f"wall {d['wall'] / k['wall']:.2f}x")


if __name__ == "__main__":
    main()
