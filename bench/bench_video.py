"""Video through `srgan upscale`: frames/s of the whole pipeline against the model alone.

A short synthetic clip (a moving pattern, 320x180 by default) is upscaled by the batch engine
(decode thread -> model in batches -> encode thread, `srgan_cli.media.video`), then its decoded
frames
go through the same frame function with no decoding or encoding. The model's share of the
pipeline time is model-alone / pipeline; wait_decode and wait_encode (from the video record)
are the seconds the model waited on the decoder and on the encoder: near 0 when the model is
the slowest part, as it should be.

Run: .venv/bin/python bench/bench_video.py [--frames 24] [--size 320x180]
     [--model bicubic --model srresnet_x4] [--tile N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from srgan_cli.media.video import iter_frames
from srgan_cli.upscaling.batch import UpscaleOptions, load_upscaler
from srgan_cli.upscaling.media_jobs import frame_function
from srgan_cli.upscaling.pipeline import run_batch


def make_clip(path: Path, frames: int, w: int, h: int) -> None:
    """A moving smooth pattern, H.264 at 25 fps."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25, options={"crf": "18"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.codec_context.time_base = Fraction(1, 25)
        for i in range(frames):
            img = np.stack([128 + 100 * np.sin((xx + 3 * i) / 17),
                            128 + 100 * np.cos((yy - 2 * i) / 11),
                            128 + 60 * np.sin((xx + yy + i) / 23)], axis=2)
            f = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode())


def bench(clip: Path, out_dir: Path, model: str, tile: int | None) -> None:
    options = UpscaleOptions(output_dir=out_dir / model.replace("/", "_"), model=model,
                             tile=tile, overwrite=True)
    upscaler = load_upscaler(options)
    result = run_batch([str(clip)], options, upscaler=upscaler)
    result.check()
    media = result.records[0].media
    rec = media.as_record() if media is not None else {}
    n, pipeline = rec["frames_in"], rec["seconds"]
    frames = list(iter_frames(clip))
    fn = frame_function(upscaler, None)
    t0 = time.perf_counter()
    for i in range(0, len(frames), 4):  # the batch size upscale_video uses
        fn(frames[i:i + 4])
    alone = time.perf_counter() - t0
    print(f"{model}: {n} frames {rec['width']}x{rec['height']} -> "
          f"{rec['out_width']}x{rec['out_height']}, {rec['codec']}")
    print(f"  pipeline     {n / pipeline:8.2f} frames/s  ({pipeline:.2f} s)")
    print(f"  model alone  {n / alone:8.2f} frames/s  ({alone:.2f} s)")
    print(f"  model share  {alone / pipeline:8.2f}      (1.00 = the model is all the time)")
    print(f"  wait_decode  {rec['wait_decode']:8.3f} s   wait_encode {rec['wait_encode']:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24, help="frames in the clip (default 24)")
    ap.add_argument("--size", default="320x180", help="WxH of the clip (default 320x180)")
    ap.add_argument("--model", action="append", default=None,
                    help="repeatable (default: bicubic and the default model)")
    ap.add_argument("--tile", type=int, default=None)
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(clip, args.frames, w, h)
        for model in args.model or ["bicubic", "srresnet_x4"]:
            bench(clip, Path(tmp), model, args.tile)


if __name__ == "__main__":
    main()
