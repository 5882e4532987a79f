"""Video through a frame function: decode, upscale in batches, encode; everything else kept.

`upscale_video` reads a video with PyAV (its wheels carry FFmpeg), runs the frames through
``upscale_frames(list of HxWx3 uint8 RGB) -> list of HxWx3 uint8 RGB`` in batches (the caller
passes the Upscaler's batched call) and writes a video of the same kind in which nothing else
changes: the number of frames, their timestamps (variable frame rate included), the time base,
the rotation (display matrix), the duration, audio and subtitle streams (packets copied, never
re-encoded), container metadata and chapters where the output format can hold them.

Decoding runs in one thread, encoding in another, the model in the caller's thread
(`srgan_cli.media.thread_pipeline`); the queues between them are bounded, so memory stays
bounded whatever the length of the video. The output is written under a temp name and
published only when complete (`fileio.atomic_write`), so Ctrl-C, SIGTERM or an error leaves no
partial file. A run cannot be resumed: an interrupted video starts again from its first frame.

`iter_frames` streams a video's frames (`evaluation.video_scores` scores a model on them). Bad
input (no video stream, an undecodable or truncated stream, no frames) raises one-line
InputImageError.
Frames are upscaled as RGB: a source whose frames carry alpha gets a note in
`VideoResult.warnings` that the output has none. SVT-AV1, which prints straight to stderr, is
kept to its errors (`options.quiet_svt_av1`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from srgan_cli.errors import InputImageError, OutputError, UsageError
from srgan_cli.fileio import atomic_write, check_target, not_a_regular_file
from srgan_cli.media.formats import VIDEO_FORMATS, VIDEO_SUFFIXES
from srgan_cli.media.thread_pipeline import ThreadPipeline, Writer
from srgan_cli.messages import one_line, option, show_path
from srgan_cli.options import quiet_svt_av1

FrameFn = Callable[[list[np.ndarray]], list[np.ndarray]]
"""Upscale a batch of HxWx3 uint8 RGB frames; returns as many frames, each scale x larger."""
ProgressFn = Callable[[int, int | None], None]
"""Called once per finished frame with (frames done, total frames or None when unknown)."""

# encoders in order of preference: H.264 first, then what plays most widely
CODEC_PREFERENCE = ("libx264", "libopenh264", "libx265", "libsvtav1", "libaom-av1",
                    "libvpx-vp9", "libvpx", "mpeg4")
# encoder -> default CRF; encoders missing here take no --crf
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libsvtav1": 24, "libaom-av1": 24,
               "libvpx-vp9": 24, "libvpx": 10}
_SUBSAMPLED = ("yuv420", "yuv422", "yuvj420", "yuvj422", "nv12", "nv21")
_MUXER_KEYS = {"encoder", "major_brand", "minor_version", "compatible_brands"}
DEFAULT_BATCH = 4
_QUEUE_ITEMS = 32  # per queue; a frame item is one frame (reader) or one batch (writer)


@dataclass(frozen=True)
class VideoResult:
    """What `upscale_video` did, for the printed line and the JSON record."""

    input: str
    output: str
    codec: str
    pix_fmt: str
    crf: int | None
    width: int
    height: int
    out_width: int
    out_height: int
    frames_in: int
    frames_out: int
    fps: float | None  # the video's average frame rate
    duration: float | None  # seconds, of the input video stream
    rotation: float  # degrees counter-clockwise, from the display matrix
    copied_streams: list[str] = field(default_factory=list)  # e.g. ["audio:aac"]
    seconds: float = 0.0  # wall time of the whole job
    frames_per_second: float = 0.0  # processing speed
    wait_decode: float = 0.0  # seconds the model waited on the decoder
    wait_encode: float = 0.0  # seconds the model waited on the encoder
    warnings: list[str] = field(default_factory=list)  # what the output could not keep

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- codec choice


def _has_encoder(name: str) -> bool:
    import av

    try:
        av.Codec(name, "w")
    except Exception:  # av raises UnknownCodecError or ValueError depending on the name
        return False
    return True


def choose_codec(output: Any, requested: str | None = None) -> str:
    """The encoder for the open output container `output`: `requested` if this FFmpeg has it as
    a video encoder and the format takes it (else UsageError naming the ones that fit),
    otherwise the first of CODEC_PREFERENCE that fits."""
    import av

    fits = _video_encoders(output)
    if requested is None:
        if fits:
            return fits[0]
        raise OutputError(f"no video encoder for a {output.format.name} file in this FFmpeg")
    known = _has_encoder(requested)
    kind = str(av.Codec(requested, "w").type) if known else ""
    if not known:
        why = "this FFmpeg has no such video encoder"
    elif kind != "video":
        article = "an" if kind[:1] in ("a", "e", "i", "o", "u") else "a"
        why = f"{article} {kind} encoder, not a video one"
    elif not _fits(output, requested):
        why = f"a .{output.format.name} file cannot hold it"
    else:
        return requested
    which = (f"video encoders for a .{output.format.name} file here: {', '.join(fits)}" if fits
             else f"this FFmpeg has no video encoder for a .{output.format.name} file")
    raise UsageError(f"{option('codec')} {requested}: {why}; {which}")


def _fits(output: Any, encoder: str) -> bool:
    """Whether the open output's format takes what `encoder` writes."""
    supported = set(output.supported_codecs)
    return not supported or encoder in supported or _codec_id(encoder) in supported


def _video_encoders(output: Any) -> list[str]:
    """The encoders of CODEC_PREFERENCE this FFmpeg has that the open output takes, in order."""
    return [name for name in CODEC_PREFERENCE if _has_encoder(name) and _fits(output, name)]


def _codec_id(encoder: str) -> str:
    import av

    return str(av.Codec(encoder, "w").canonical_name) if _has_encoder(encoder) else encoder


def _pick_pix_fmt(codec: str, requested: str | None, source: str | None,
                  size: tuple[int, int]) -> str:
    """`requested` if the encoder takes it; else the source's format if it does, else yuv420p
    (yuv444p when the output size is odd, which 4:2:0 cannot hold)."""
    import av

    formats = [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    odd = size[0] % 2 == 1 or size[1] % 2 == 1
    if requested is not None:
        if formats and requested not in formats:
            raise UsageError(f"{option('pix_fmt')} {requested}: {codec} takes {', '.join(formats)}")
        if odd and requested.startswith(_SUBSAMPLED):
            raise UsageError(f"{option('pix_fmt')} {requested}: output size "
                             f"{size[1]}x{size[0]} is odd; use a 4:4:4 format such as yuv444p")
        return requested
    for cand in (source, "yuv420p", "yuv444p"):
        if cand and (not formats or cand in formats) and not (odd and cand.startswith(_SUBSAMPLED)):
            return cand
    if formats:
        return formats[0]
    raise OutputError(f"{codec}: no pixel format for a {size[1]}x{size[0]} video")


def _codec_options(codec: str, crf: int | None) -> tuple[dict[str, str], int | None]:
    if codec not in DEFAULT_CRF:
        if crf is not None:
            raise UsageError(f"{option('crf')}: the {codec} encoder takes no CRF")
        return {}, None
    value = DEFAULT_CRF[codec] if crf is None else crf
    opts = {"crf": str(value)}
    if codec.startswith("libvpx"):
        opts["b"] = "0"  # constant quality
    return opts, value


# --------------------------------------------------------------------------- decoding


@dataclass
class _Frame:
    rgb: np.ndarray
    pts: int | None
    duration: int
    matrix: list[int] | None  # display matrix side data of the frame, 9 ints
    rotation: float  # its counter-clockwise degrees (0 without a matrix)


@dataclass
class _DecodeEnd:
    frames: int


def _open_input(path: Path) -> Any:
    import av

    problem = not_a_regular_file(path)  # before the open: a FIFO would block it
    if problem is not None:
        raise InputImageError(f"{show_path(path)}: {problem}")
    try:
        container = av.open(str(path), "r")
    except av.error.FFmpegError as e:
        raise InputImageError(f"{show_path(path)}: not a readable video ({one_line(e)})") from e
    if not container.streams.video:
        kinds = sorted({str(s.type) for s in container.streams})
        container.close()
        if not kinds:  # e.g. an mp4 whose index (moov) is cut off
            raise InputImageError(f"{show_path(path)}: damaged or truncated video file (no "
                                  "stream can be read from it)")
        raise InputImageError(f"{show_path(path)}: no video stream (it holds "
                              f"{' and '.join(kinds)} only)")
    return container


def frame_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) of the frames of the video at `path` from its container header, nothing
    decoded; None when it does not open as a video (decoding it then says why)."""
    import av

    try:
        with av.open(str(path), "r") as container:
            if not container.streams.video:
                return None
            ctx = container.streams.video[0].codec_context
            return (int(ctx.height), int(ctx.width)) if ctx.width and ctx.height else None
    except Exception:
        return None


def _alpha_dropped(pix_fmt: str | None, written: str) -> str | None:
    """The note for a source whose frames carry alpha (a pixel format of 2 or 4 components):
    frames are upscaled as RGB, so the output written as `written` has none."""
    import av

    try:
        components = len(av.VideoFormat(pix_fmt).components) if pix_fmt else 0
    except ValueError:
        return None
    if components not in (2, 4):
        return None
    return (f"alpha not kept: the source's {pix_fmt} frames have an alpha channel; video frames "
            f"are upscaled as RGB and written as {written} without it")


def _matrix(frame: Any) -> list[int] | None:
    for sd in frame.side_data:
        if str(getattr(sd.type, "name", sd.type)).upper().endswith("DISPLAYMATRIX"):
            raw = bytes(sd)
            if len(raw) == 36:
                return [int(v) for v in np.frombuffer(raw, dtype="<i4")]
    return None


def _stated_seconds(container: Any, stream: Any) -> float | None:
    """The video's duration as the file states it (None when it does not say)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if len(container.streams) == 1 and container.duration:
        return container.duration / 1_000_000  # the video is all there is
    return None


def _expected_frames(container: Any, stream: Any) -> int | None:
    """How many frames the file says its video has: its frame count, else about duration x
    rate (None when it says neither); for the progress total."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    seconds = _stated_seconds(container, stream)
    return None if rate is None or seconds is None else int(round(seconds * float(rate)))


def _check_complete(path: Path, container: Any, stream: Any, count: int,
                    end: float | None) -> None:
    """InputImageError when fewer frames decoded than the file says it holds.

    With a stated frame count the counts must match; otherwise the last frame must end
    within two frame intervals of the stated duration (a VFR clip has no exact count)."""
    if count == 0:
        raise InputImageError(f"{show_path(path)}: no video frames decode")
    if stream.frames:
        if count < stream.frames:
            raise InputImageError(f"{show_path(path)}: truncated or damaged: {count} of "
                                  f"{stream.frames} frames decode, {stream.frames - count} lost")
        return
    seconds = _stated_seconds(container, stream)
    rate = float(stream.average_rate or stream.guessed_rate or 25)
    if seconds is None or end is None or end >= seconds - 2 / rate - 0.01:
        return
    lost = max(1, round((seconds - end) * rate))
    raise InputImageError(f"{show_path(path)}: truncated or damaged: {count} frames decode, "
                          f"about {lost} lost ({end:.2f} s of {seconds:.2f} s)")


def _demux(path: Path, container: Any, copy: list[Any], max_frames: int | None
           ) -> Iterator[_Frame | Any | _DecodeEnd]:
    """Frames of the first video stream and packets of `copy`, in file order, then the end.

    Raises InputImageError for a stream that stops decoding or a file with fewer frames than
    it says it holds (truncated); frames past `max_frames` are not decoded."""
    import av

    vstream = container.streams.video[0]
    vstream.thread_type = "AUTO"
    copy_ids = {s.index for s in copy}
    count = 0
    last_pts: int | None = None
    last_dur = 0
    step = _frame_step(vstream)
    try:
        for packet in container.demux([vstream, *copy]):
            if packet.stream.index in copy_ids:
                if packet.dts is not None and packet.size:
                    yield packet
                continue
            for frame in packet.decode():
                pts = frame.pts if frame.pts is not None else (
                    None if last_pts is None else last_pts + step)
                last_pts, last_dur = pts, int(frame.duration or step)
                yield _Frame(frame.to_ndarray(format="rgb24"), pts, last_dur, _matrix(frame),
                             float(frame.rotation or 0.0))
                count += 1
                if max_frames is not None and count >= max_frames:
                    yield _DecodeEnd(count)
                    return
    except av.error.FFmpegError as e:
        raise InputImageError(f"{show_path(path)}: video stream undecodable after {count} "
                              f"frame(s) ({one_line(e)})") from e
    end = None if last_pts is None else float((last_pts + last_dur) * vstream.time_base)
    _check_complete(path, container, vstream, count, end)
    yield _DecodeEnd(count)


def _frame_step(stream: Any) -> int:
    """One frame interval in the stream's time base (for frames without pts/duration)."""
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    tb = stream.time_base or Fraction(1, 90000)
    return max(1, round(1 / (rate * tb)))


# --------------------------------------------------------------------------- threads


@dataclass
class _Decoded:
    """A decoded stream for the reader thread: its first items already pulled."""

    head: list[Any]
    rest: Iterator[Any]

    def items(self) -> Iterator[Any]:
        return itertools.chain(self.head, self.rest)


def _pull_first_frame(items: Iterator[Any]) -> _Decoded:
    head: list[Any] = []
    for item in items:
        head.append(item)
        if isinstance(item, _Frame | _DecodeEnd):
            break
    return _Decoded(head, items)


# --------------------------------------------------------------------------- upscale


def _copy_metadata(meta: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in meta.items()
            if k.lower() not in _MUXER_KEYS and not k.upper().startswith(
                ("DURATION", "NUMBER_OF_", "BPS", "_STATISTICS"))}


def _copyable(src: Path, inp: Any, out: Any) -> list[Any]:
    """The audio and subtitle streams to copy; OutputError for one the format cannot hold."""
    keep = []
    supported = set(out.supported_codecs)
    for s in inp.streams:
        if s.type not in ("audio", "subtitle"):
            continue  # data and attachment streams (timecodes, fonts) are not carried
        name = s.codec_context.name if s.codec_context is not None else "unknown"
        if supported and name not in supported:
            raise OutputError(f"{show_path(src)}: its {s.type} stream #{s.index} ({name}) cannot "
                              f"be copied into a {out.format.name} file; choose another "
                              "output extension")
        keep.append(s)
    return keep


@dataclass
class _Plan:
    codec: str
    pix_fmt: str
    crf: int | None
    copied: list[str]
    warnings: list[str]


def _setup_output(src: Path, inp: Any, out: Any, first: _Frame, size: tuple[int, int],
                  codec: str | None, crf: int | None, pix_fmt: str | None
                  ) -> tuple[_Plan, Any, dict[int, Any]]:
    """Add the encoder stream and the copied streams to `out`; metadata, chapters, rotation."""
    vin = inp.streams.video[0]
    chosen = choose_codec(out, codec)
    options, crf_used = _codec_options(chosen, crf)
    src_fmt = vin.codec_context.pix_fmt if vin.codec_context is not None else None
    fmt = _pick_pix_fmt(chosen, pix_fmt, src_fmt, size)
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    if chosen == "libsvtav1":
        quiet_svt_av1()
    vout = out.add_stream(chosen, rate=rate, options=options)
    vout.width, vout.height = size[1], size[0]
    vout.pix_fmt = fmt
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    vout.metadata.update(_copy_metadata(dict(vin.metadata)))
    if first.matrix is not None:
        vout.set_display_matrix(first.matrix)
    mapping = {}
    copied = []
    for s in _copyable(src, inp, out):
        o = out.add_stream_from_template(s)
        o.metadata.update(_copy_metadata(dict(s.metadata)))
        mapping[s.index] = o
        copied.append(f"{s.type}:{s.codec_context.name}")
    out.metadata.update(_copy_metadata(dict(inp.metadata)))
    chapters = inp.chapters()
    if chapters:
        out.set_chapters(chapters)
    dropped = _alpha_dropped(src_fmt, fmt)
    return _Plan(chosen, fmt, crf_used, copied, [dropped] if dropped else []), vout, mapping


def upscale_video(
    src: str | Path, dst: str | Path, upscale_frames: FrameFn, scale: int, *,
    codec: str | None = None, crf: int | None = None, pix_fmt: str | None = None,
    batch: int = DEFAULT_BATCH, overwrite: bool = False, progress: ProgressFn | None = None,
) -> VideoResult:
    """Upscale every frame of video `src` by `scale` into `dst` (format from its suffix).

    `codec`: FFmpeg encoder name (default: H.264 where available, see CODEC_PREFERENCE);
    `crf`: its constant-quality value (default per encoder); `pix_fmt`: e.g. yuv420p (default:
    the source's where the encoder takes it). Frames go to `upscale_frames` `batch` at a time.
    Raises InputImageError (bad input), OutputError (bad target), UsageError (bad codec
    options); `dst` appears only complete."""
    import av

    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    check_target(dst, overwrite=overwrite, kind="video", suffixes=VIDEO_SUFFIXES)
    inp = _open_input(src)
    vin = inp.streams.video[0]
    total = _expected_frames(inp, vin)
    copy = [s for s in inp.streams if s.type in ("audio", "subtitle")]
    rate = vin.average_rate or vin.guessed_rate
    duration = (float(vin.duration * vin.time_base) if vin.duration is not None
                else (inp.duration / 1_000_000 if inp.duration else None))
    try:
        decoded = _pull_first_frame(_demux(src, inp, copy, None))
        first = next((x for x in decoded.head if isinstance(x, _Frame)), None)
        if first is None:  # _demux raises before; kept for safety
            raise InputImageError(f"{show_path(src)}: no video frames decode")
        in_h, in_w = first.rgb.shape[:2]
        size = (in_h * scale, in_w * scale)
        with atomic_write(dst, overwrite=overwrite) as tmp:
            out = av.open(str(tmp), "w", format=VIDEO_FORMATS[dst.suffix.lower()])
            try:
                plan, vout, mapping = _setup_output(src, inp, out, first, size, codec, crf,
                                                    pix_fmt)
                frames = _FrameRun(out, vout, mapping, upscale_frames, size, batch)
                frames.run(decoded.items(), progress, total)
            finally:
                out.close()
    finally:
        inp.close()
    seconds = time.perf_counter() - started
    return VideoResult(
        input=str(src), output=str(dst), codec=plan.codec, pix_fmt=plan.pix_fmt, crf=plan.crf,
        width=in_w, height=in_h, out_width=size[1], out_height=size[0],
        frames_in=frames.frames_in, frames_out=frames.packets_out,
        fps=float(rate) if rate else None, duration=duration,
        rotation=first.rotation, copied_streams=plan.copied, seconds=seconds,
        frames_per_second=frames.frames_in / seconds if seconds > 0 else 0.0,
        wait_decode=frames.wait_decode, wait_encode=frames.wait_encode, warnings=plan.warnings)


def _check_batch(out: list[np.ndarray], n: int, size: tuple[int, int]) -> None:
    if len(out) != n:
        raise ValueError(f"frame function returned {len(out)} frames for {n}")
    for f in out:
        if f.dtype != np.uint8 or f.shape != (*size, 3):
            raise ValueError(f"frame function returned {f.dtype} {f.shape}, expected uint8 "
                             f"{(*size, 3)}")


class _FrameRun:
    """Decode thread -> batches through `fn` in this thread -> encode thread
    (`thread_pipeline`: bounded queues, in order, stopped and joined on any exit)."""

    def __init__(self, out: Any, vout: Any, mapping: dict[int, Any], fn: FrameFn,
                 size: tuple[int, int], batch: int) -> None:
        self.out, self.vout, self.mapping, self.fn = out, vout, mapping, fn
        self.size, self.batch = size, batch
        self.frames_in = 0
        self.packets_out = 0
        self.wait_decode = 0.0  # seconds the model thread waited for decoded frames
        self.wait_encode = 0.0  # seconds it waited for room in the encoder's queue
        self._durations: dict[int, int] = {}  # pts -> duration, for the encoder's packets

    # ---- encode thread
    def _mux_video(self, packets: list[Any]) -> None:
        for p in packets:
            if p.pts is not None and p.pts in self._durations:
                p.duration = self._durations.pop(p.pts)  # encoders drop the last duration
            self.out.mux(p)
            self.packets_out += 1

    def _encode_all(self, items: Iterator[Any]) -> None:
        """Batches of (upscaled frame, its _Frame) are encoded, copied packets muxed as they
        are; then the encoder is flushed."""
        import av

        tb = self.vout.codec_context.time_base
        for item in items:
            if not isinstance(item, list):
                item.stream = self.mapping[item.stream_index]
                self.out.mux(item)
                continue
            for rgb, f in item:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base, frame.duration = f.pts, tb, f.duration
                if f.pts is not None:
                    self._durations[f.pts] = f.duration
                self._mux_video(self.vout.encode(frame))
        self._mux_video(self.vout.encode(None))

    # ---- model thread (the caller's)
    def _flush(self, pending: list[_Frame], to_encode: Writer[Any], progress: ProgressFn | None,
               total: int | None) -> None:
        sr = self.fn([f.rgb for f in pending])
        _check_batch(sr, len(pending), self.size)
        to_encode.put(list(zip(sr, pending, strict=True)))
        for _ in pending:
            self.frames_in += 1
            if progress is not None:
                progress(self.frames_in, total)
        pending.clear()

    def run(self, items: Iterator[Any], progress: ProgressFn | None, total: int | None) -> None:
        """Every frame of `items` (then the _DecodeEnd) upscaled and encoded, packets copied."""
        with ThreadPipeline() as threads:
            decoded = threads.read_ahead(items, size=_QUEUE_ITEMS, name="srgan-decode")
            to_encode: Writer[Any] = threads.write_behind(
                self._encode_all, size=max(4, _QUEUE_ITEMS // max(self.batch, 1)),
                name="srgan-encode")
            try:
                pending: list[_Frame] = []
                for item in decoded:
                    if isinstance(item, _DecodeEnd):
                        break
                    if not isinstance(item, _Frame):
                        to_encode.put(item)
                        continue
                    pending.append(item)
                    if len(pending) >= self.batch:
                        self._flush(pending, to_encode, progress, total)
                if pending:
                    self._flush(pending, to_encode, progress, total)
                to_encode.finish()
            finally:
                self.wait_decode, self.wait_encode = decoded.waited, to_encode.waited


# --------------------------------------------------------------------------- probing


def iter_frames(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """The frames of video `path` as HxWx3 uint8 RGB, decoded in a background thread.

    InputImageError for no video stream, an undecodable or truncated stream, no frames."""
    p = Path(path)
    inp = _open_input(p)
    try:
        with ThreadPipeline() as threads:
            for item in threads.read_ahead(_demux(p, inp, [], max_frames), size=_QUEUE_ITEMS,
                                           name="srgan-decode"):
                if isinstance(item, _DecodeEnd):
                    break
                yield item.rgb
    finally:
        inp.close()
