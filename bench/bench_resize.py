"""Speed and memory of `imresize` (MATLAB bicubic) against reference implementations.

Two cases, as used by the datasets and by `srgan upscale --model bicubic`: a DIV2K-sized
2040x1356 RGB uint8 image shrunk x1/4, and a 510x339 one enlarged x4. Every variant runs in a
fresh process (so that its peak-RSS increase is its own) and is timed there, best of --repeats:

- imresize: the blocked implementation in srgan_cli/media/resize.py;
- whole-array float64: the same maths on whole-image float64 arrays (the implementation before
  blocking; bit-identical, kept here to show the memory and speed difference);
- PIL bicubic: Pillow's C resampler (a = -0.5 too, but fixed-point, so not bit-identical), as a
  speed yardstick;
- per-pixel Python: a plain loop over output pixels and taps, timed on a crop and extrapolated
  by area (the naive reference; far too slow to run on the whole image).

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_resize.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from srgan_cli.media.resize import contributions, imresize, output_size

CASES = {"2040x1356 x1/4": ((1356, 2040), 0.25), "510x339 x4": ((339, 510), 4.0)}
CROP = {"2040x1356 x1/4": 48, "510x339 x4": 12}  # per-pixel reference: a CROP x CROP input


def _image(hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (*hw, 3), dtype=np.uint8)


def _round(a: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(a + 0.5), 0, 255).astype(np.uint8)


def whole_array(img: np.ndarray, scale: float) -> np.ndarray:
    """Each pass on the whole image in float64 with full-size temporaries per tap."""
    size = output_size(img.shape[:2], scale)
    out = img
    for dim in (0, 1):
        weights, idx = contributions(out.shape[dim], size[dim], scale)
        src = np.moveaxis(out, dim, 0).astype(np.float64)
        acc = np.zeros((size[dim],) + src.shape[1:])
        for p in range(weights.shape[1]):
            acc += weights[:, p].reshape(-1, 1, 1) * src[idx[:, p]]
        out = _round(np.moveaxis(acc, 0, dim))
    return out


def per_pixel(img: np.ndarray, scale: float) -> np.ndarray:
    """One output value at a time: the textbook loop."""
    size = output_size(img.shape[:2], scale)
    a = img.astype(np.float64).tolist()
    for dim in (0, 1):
        weights, idx = contributions(len(a) if dim == 0 else len(a[0]), size[dim], scale)
        h, w = (size[0], len(a[0])) if dim == 0 else (len(a), size[1])
        res = [[[0.0] * 3 for _ in range(w)] for _ in range(h)]
        for y in range(h):
            for x in range(w):
                o = y if dim == 0 else x
                for c in range(3):
                    s = 0.0
                    for wt, i in zip(weights[o].tolist(), idx[o].tolist(), strict=True):
                        s += wt * (a[i][x][c] if dim == 0 else a[y][i][c])
                    res[y][x][c] = min(max(float(np.floor(s + 0.5)), 0.0), 255.0)
        a = res
    return np.array(a, dtype=np.uint8)


def pil_bicubic(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = output_size(img.shape[:2], scale)
    return np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BICUBIC))


VARIANTS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "imresize": imresize,
    "whole-array float64": whole_array,
    "PIL bicubic": pil_bicubic,
    "per-pixel Python": per_pixel,
}


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> int:
    """Start a new peak-RSS measurement; returns the baseline in kB. On Linux the high-water
    mark is reset (clear_refs 5) and the baseline is the RSS now; elsewhere it is the peak so
    far, which can hide an increase smaller than earlier peaks (imports)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        now = _status_kb("VmRSS")
        if now is not None:
            return now
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_kb() -> int:
    peak = _status_kb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(variant: str, case: str, repeats: int, queue: mp.Queue) -> None:
    """In a fresh process: (best seconds, peak RSS minus RSS before the calls in MB,
    extrapolation factor)."""
    hw, scale = CASES[case]
    img = _image(hw)
    factor = 1.0
    if variant == "per-pixel Python":  # a crop, then scaled up by area
        crop = CROP[case]
        factor = hw[0] * hw[1] / crop**2
        img = np.ascontiguousarray(img[:crop, :crop])
        repeats = 1
    fn = VARIANTS[variant]
    before = _reset_peak()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(img, scale)
        best = min(best, time.perf_counter() - start)
    after = _peak_kb()
    queue.put((best * factor, (after - before) / 1024, factor))


def measure(variant: str, case: str, repeats: int) -> tuple[float, float, float]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(variant, case, repeats, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def check_identical() -> None:
    """The blocked and the whole-array implementations agree bit for bit (small image)."""
    img = _image((150, 210), seed=1)
    for scale in (0.25, 4.0):
        assert np.array_equal(imresize(img, scale), whole_array(img, scale)), scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    check_identical()
    print(f"{'case':<16} {'variant':<22} {'seconds':>9} {'x imresize':>11} {'peak RSS +MB':>13}")
    for case in CASES:
        base = None
        for variant in VARIANTS:
            seconds, rss, factor = measure(variant, case, args.repeats)
            base = seconds if base is None else base
            crop = CROP[case]
            note = f"  (extrapolated x{factor:.0f} from a {crop}^2 crop)" if factor > 1 else ""
            rss_text = "-" if factor > 1 else f"{rss:.0f}"
            print(f"{case:<16} {variant:<22} {seconds:>9.3f} {seconds / base:>11.2f} "
                  f"{rss_text:>13}{note}", flush=True)


if __name__ == "__main__":
    main()
