"""Builders shared by the media tests: short videos (PyAV) and animated GIF/APNG/WebP files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageSequence

W, H, N = 32, 24, 12


def nearest_x2(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [np.repeat(np.repeat(f, 2, axis=0), 2, axis=1) for f in frames]


def pattern(i: int, w: int = W, h: int = H) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    img[..., 0] = (xx * 7 + i * 9) % 256
    img[..., 1] = (yy * 9 + i * 5) % 256
    img[..., 2] = 128
    return img


VFR_STEPS = [40 if i % 3 else 100 for i in range(N)]  # ms: a variable frame rate


def make_clip(path: Path, *, n: int = N, rotation: float = 0, audio: str | None = "aac",
              fmt: str | None = None, options: dict[str, str] | None = None,
              w: int = W, h: int = H, pix_fmt: str = "yuv420p", subtitles: bool = False
              ) -> list[int]:
    """A clip of a moving pattern (VFR pts in ms) with a sine audio track; returns the pts.

    With `subtitles` (Matroska): two SubRip lines and two chapters as well."""
    c = av.open(str(path), "w", format=fmt, options=options or {})
    c.metadata["title"] = "tiny clip"
    if subtitles:
        sub = c.add_mux_stream("subrip")
        sub.time_base = Fraction(1, 1000)
        sub.metadata["language"] = "fra"
        c.set_chapters([{"id": i + 1, "start": a, "end": b, "time_base": Fraction(1, 1000),
                         "metadata": {"title": f"part {i}"}}
                        for i, (a, b) in enumerate([(0, 300), (300, 600)])])
    v = c.add_stream("libx264", rate=25, options={"crf": "10"})
    v.width, v.height, v.pix_fmt = w, h, pix_fmt
    v.time_base = v.codec_context.time_base = Fraction(1, 1000)
    if rotation:
        v.set_display_rotation(rotation)
    a: av.AudioStream | None = None
    if audio:
        stream = c.add_stream(audio, rate=8000)
        assert isinstance(stream, av.AudioStream)
        a = stream
        a.layout = "mono"
    if subtitles:
        c.start_encoding()
        for i, (start, end) in enumerate([(0, 100), (200, 300)]):
            q = av.Packet(f"line {i}".encode())
            q.pts = q.dts = start
            q.duration, q.time_base, q.stream = end - start, Fraction(1, 1000), sub
            c.mux(q)
    pts, t = [], 0
    for i in range(n):
        f = av.VideoFrame.from_ndarray(pattern(i, w, h), format="rgb24")
        f.pts, f.time_base = t, Fraction(1, 1000)
        pts.append(t)
        t += VFR_STEPS[i % len(VFR_STEPS)]
        c.mux(v.encode(f))
    c.mux(v.encode())
    if a is not None:
        total = t * 8
        s = (np.sin(2 * np.pi * 440 * np.arange(total) / 8000) * 0.3).astype(np.float32)
        size = a.codec_context.frame_size or 1024
        for k in range(0, total, size):
            chunk = s[k:k + size][None]
            if a.format.name == "fltp":
                fr = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            else:
                fr = av.AudioFrame.from_ndarray((chunk * 32767).astype(np.int16), format="s16",
                                                layout="mono")
            fr.sample_rate, fr.pts, fr.time_base = 8000, k, Fraction(1, 8000)
            c.mux(a.encode(fr))
        c.mux(a.encode())
    c.close()
    return pts


def probe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        info: dict[str, Any] = {
            "time_base": vs.time_base, "duration": c.duration, "metadata": dict(c.metadata),
            "audio": [s.codec_context.name for s in c.streams.audio]}
        frames = list(c.decode(vs))
        info.update(pts=[f.pts for f in frames], rotation=frames[0].rotation,
                    size=(frames[0].width, frames[0].height),
                    rgb=[f.to_ndarray(format="rgb24") for f in frames])
    with av.open(str(path)) as c:
        info["audio_packets"] = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size] \
            if c.streams.audio else []
    return info


AW, AH = 16, 12
ANIMATION_DURATIONS = [40, 120, 60, 200, 80]


def animation_frames(alpha: bool = False) -> list[Image.Image]:
    out = []
    for i in range(len(ANIMATION_DURATIONS)):
        a = np.zeros((AH, AW, 4), np.uint8)
        a[..., i % 3] = 255  # a flat colour per frame: survives the GIF palette exactly
        a[..., 3] = 255
        if alpha:
            a[: AH // 2, :, 3] = 0
        out.append(Image.fromarray(a if alpha else a[..., :3]))
    return out


def make_animation(path: Path, fmt: str, *, loop: int | None = 0, alpha: bool = False) -> None:
    ims = animation_frames(alpha)
    kw: dict = {"save_all": True, "append_images": ims[1:], "duration": ANIMATION_DURATIONS}
    if loop is not None:
        kw["loop"] = loop
    if fmt == "WEBP":
        kw["lossless"] = True
    ims[0].save(path, format=fmt, **kw)


def read_animation(path: Path) -> tuple[list[np.ndarray], list[int | None], int | None]:
    with Image.open(path) as im:
        loop = im.info.get("loop")
        fr = [(np.asarray(f.convert("RGBA")).copy(), f.info.get("duration"))
              for f in ImageSequence.Iterator(im)]
    return [f for f, _ in fr], [d for _, d in fr], loop


def make_damaged_apng(path: Path) -> None:
    """An APNG of 3 frames whose second frame control chunk (fcTL) declares a frame wider than
    the canvas, its CRC made right: the header reads, the second frame does not decode."""
    import io
    import struct
    import zlib

    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 100, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:], duration=50)
    data = bytearray(buf.getvalue())
    i = data.find(b"fcTL", data.find(b"fcTL") + 4)
    data[i + 8:i + 12] = struct.pack(">I", 1000)  # width, after the sequence number
    data[i + 30:i + 34] = struct.pack(">I", zlib.crc32(bytes(data[i:i + 30])))
    path.write_bytes(bytes(data))


def make_alpha_clip(path: Path, n: int = 3) -> None:
    """A ProRes 4444 clip (.mov) whose frames carry alpha (half transparent)."""
    c = av.open(str(path), "w")
    v = c.add_stream("prores_ks", rate=25)
    v.width, v.height, v.pix_fmt = W, H, "yuva444p10le"
    for i in range(n):
        rgba = np.dstack([pattern(i), np.full((H, W), 128, np.uint8)])
        frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva444p10le")
        frame.pts = i
        c.mux(v.encode(frame))
    c.mux(v.encode())
    c.close()
