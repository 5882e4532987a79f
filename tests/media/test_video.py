"""The video frame pipeline: everything but the pixels is kept; bad videos fail in one line."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from media_builders import H, N, W, make_alpha_clip, make_clip, nearest_x2, probe

from srgan_cli.errors import DatasetError, InputImageError, OutputError, UsageError
from srgan_cli.evaluation import video_scores
from srgan_cli.evaluation.metrics import psnr
from srgan_cli.media import video


@pytest.mark.parametrize("suffix,audio", [(".mp4", "aac"), (".mkv", "pcm_s16le")])
def test_everything_but_pixels_is_kept(tmp_path: Path, suffix: str, audio: str) -> None:
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    make_clip(src, audio=audio, rotation=90)
    seen: list[tuple[int, int | None]] = []
    rec = video.upscale_video(src, dst, nearest_x2, 2, crf=0, batch=5,
                              progress=lambda d, t: seen.append((d, t)))
    a, b = probe(src), probe(dst)
    assert b["size"] == (2 * W, 2 * H)
    assert b["pts"] == a["pts"] and len(b["pts"]) == N
    assert b["time_base"] == a["time_base"]
    assert b["duration"] == a["duration"]
    assert b["rotation"] == a["rotation"] == 90
    assert b["audio"] == [audio]
    assert b["audio_packets"] == a["audio_packets"]  # copied, not re-encoded
    assert b["metadata"]["title"] == "tiny clip"
    assert rec.codec == "libx264" and rec.frames_in == rec.frames_out == N
    assert rec.rotation == 90 and rec.copied_streams == [f"audio:{audio}"]
    assert rec.as_record()["crf"] == 0
    assert rec.seconds > 0 and rec.wait_decode >= 0 and rec.wait_encode >= 0
    assert [d for d, _ in seen] == list(range(1, N + 1))
    # each decoded output frame is the frame function of the decoded input frame
    for x, y in zip(a["rgb"], b["rgb"], strict=True):
        assert psnr(y, nearest_x2([x])[0]) >= 35


def test_subtitles_and_chapters_kept(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, audio="pcm_s16le", subtitles=True)

    def subs(p: Path) -> tuple[list, list, dict]:
        with av.open(str(p)) as c:
            s = c.streams.subtitles[0]
            chapters = []
            for ch in c.chapters():
                assert ch["time_base"] is not None
                chapters.append((ch["start"] * ch["time_base"], ch["metadata"]))
            return [(q.pts, bytes(q)) for q in c.demux(s) if q.size], chapters, dict(s.metadata)

    rec = video.upscale_video(src, dst, nearest_x2, 2)
    assert rec.copied_streams == ["subtitle:srt", "audio:pcm_s16le"]
    a, b = subs(src), subs(dst)
    assert b[0] == a[0] == [(0, b"line 0"), (200, b"line 1")]
    assert b[1] == a[1] and len(a[1]) == 2
    assert b[2]["language"] == "fra"
    assert probe(dst)["pts"] == probe(src)["pts"]


def test_subtitles_the_format_cannot_hold(tmp_path: Path) -> None:
    src = tmp_path / "in.mkv"
    make_clip(src, audio=None, subtitles=True, n=3)
    with pytest.raises(OutputError, match="subtitle stream #0 .*cannot be copied into a webm"):
        video.upscale_video(src, tmp_path / "o.webm", nearest_x2, 2)
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".*part"))


def test_frames_are_streamed_in_batches(tmp_path: Path) -> None:
    src = tmp_path / "in.mkv"
    make_clip(src, audio=None)
    sizes: list[int] = []

    def fn(frames: list[np.ndarray]) -> list[np.ndarray]:
        sizes.append(len(frames))
        return nearest_x2(frames)

    video.upscale_video(src, tmp_path / "out.mkv", fn, 2, batch=5)
    assert sizes == [5, 5, 2]


@pytest.mark.slow
def test_decoder_runs_at_most_a_queue_ahead(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "long.mkv"
    make_clip(src, audio=None, n=90)
    decoded = [0]
    real = video._matrix

    def counting(frame):  # called once per decoded frame
        decoded[0] += 1
        return real(frame)

    monkeypatch.setattr(video, "_matrix", counting)
    seen = [0]
    ahead = []

    def slow(frames: list[np.ndarray]) -> list[np.ndarray]:
        import time
        time.sleep(0.01)
        seen[0] += len(frames)
        ahead.append(decoded[0] - seen[0])
        return nearest_x2(frames)

    rec = video.upscale_video(src, tmp_path / "o.mkv", slow, 2, batch=2)
    assert rec.frames_out == 90
    assert max(ahead) <= video._QUEUE_ITEMS + 4  # the queue, plus a frame in each hand


def test_codec_choice_and_options(tmp_path: Path) -> None:
    src = tmp_path / "in.mkv"
    make_clip(src, audio=None, n=3)
    rec = video.upscale_video(src, tmp_path / "o.webm", nearest_x2, 2)
    assert rec.codec in ("libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1")
    with pytest.raises(UsageError, match="no such video encoder"):
        video.upscale_video(src, tmp_path / "o2.mkv", nearest_x2, 2, codec="nope264")
    with pytest.raises(UsageError, match="pix_fmt rgb48be"):
        video.upscale_video(src, tmp_path / "o3.mkv", nearest_x2, 2, pix_fmt="rgb48be")
    rec = video.upscale_video(src, tmp_path / "o4.mkv", nearest_x2, 2, pix_fmt="yuv444p")
    assert rec.pix_fmt == "yuv444p"
    assert not list(tmp_path.glob(".*part"))


def test_wrong_frame_function_output_is_a_bug_not_a_video(tmp_path: Path) -> None:
    src = tmp_path / "in.mkv"
    make_clip(src, audio=None, n=2)

    def short(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [f[:-2] for f in nearest_x2(frames)]

    with pytest.raises(ValueError, match="frame function returned"):
        video.upscale_video(src, tmp_path / "bad.mkv", short, 2)
    assert not (tmp_path / "bad.mkv").exists()


def test_odd_output_size(tmp_path: Path) -> None:
    src = tmp_path / "odd.mkv"
    make_clip(src, audio=None, n=2, w=33, h=25, pix_fmt="yuv444p")

    def x3(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [np.repeat(np.repeat(f, 3, axis=0), 3, axis=1) for f in frames]

    rec = video.upscale_video(src, tmp_path / "o.mkv", x3, 3)
    assert (rec.out_width, rec.out_height, rec.pix_fmt) == (99, 75, "yuv444p")
    with pytest.raises(UsageError, match="odd"):
        video.upscale_video(src, tmp_path / "o2.mkv", x3, 3, pix_fmt="yuv420p")
    # a 4:2:0 source at an odd output size falls back to 4:4:4 instead of failing
    assert video._pick_pix_fmt("libx264", None, "yuv420p", (75, 99)) == "yuv444p"
    assert video._pick_pix_fmt("libx264", None, "yuv420p", (76, 98)) == "yuv420p"


def test_failure_leaves_no_output(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src)
    calls = []

    def boom(frames: list[np.ndarray]) -> list[np.ndarray]:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return nearest_x2(frames)

    with pytest.raises(KeyboardInterrupt):
        video.upscale_video(src, dst, boom, 2, batch=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_existing_output_is_refused(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, audio=None, n=2)
    dst.write_bytes(b"keep")
    with pytest.raises(OutputError, match="exists"):
        video.upscale_video(src, dst, nearest_x2, 2)
    assert dst.read_bytes() == b"keep"
    with pytest.raises(OutputError, match="extension"):
        video.upscale_video(src, tmp_path / "out.xyz", nearest_x2, 2)


def test_no_video_stream(tmp_path: Path) -> None:
    p = tmp_path / "audio.mkv"
    c = av.open(str(p), "w")
    a = c.add_stream("pcm_s16le", rate=8000)
    a.layout = "mono"
    fr = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
    fr.sample_rate, fr.pts = 8000, 0
    c.mux(a.encode(fr))
    c.mux(a.encode())
    c.close()
    with pytest.raises(InputImageError, match=r"no video stream \(it holds audio only\)"):
        video.upscale_video(p, tmp_path / "o.mkv", nearest_x2, 2)


def test_garbage_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "garbage.mp4"
    p.write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises(InputImageError, match="not a readable video"):
        video.upscale_video(p, tmp_path / "o.mp4", nearest_x2, 2)
    with pytest.raises(InputImageError, match="no such file"):
        video.upscale_video(tmp_path / "nope.mp4", tmp_path / "o.mp4", nearest_x2, 2)


def test_zero_frames(tmp_path: Path) -> None:
    p = tmp_path / "empty.mkv"  # a video stream without frames beside a short audio stream
    c = av.open(str(p), "w")
    v = c.add_stream("libx264", rate=25)
    v.width, v.height, v.pix_fmt = W, H, "yuv420p"
    a = c.add_stream("pcm_s16le", rate=8000)
    a.layout = "mono"
    c.start_encoding()
    fr = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
    fr.sample_rate, fr.pts = 8000, 0
    c.mux(a.encode(fr))
    c.mux(a.encode())
    c.close()
    with pytest.raises(InputImageError, match="no video frames"):
        video.upscale_video(p, tmp_path / "o.mkv", nearest_x2, 2)
    assert not (tmp_path / "o.mkv").exists()
    with pytest.raises(DatasetError, match="no video frames"):
        video_scores.evaluate_video(p, nearest_x2, 2)


def test_truncated_file_says_how_many_frames_were_lost(tmp_path: Path) -> None:
    p = tmp_path / "fast.mp4"
    make_clip(p, n=40, audio=None, fmt="mp4", options={"movflags": "faststart"})
    data = p.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputImageError, match=r"truncated.* of 40 frames decode, \d+ lost"):
        video.upscale_video(cut, tmp_path / "o.mp4", nearest_x2, 2)
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(DatasetError, match="truncated"):
        video_scores.evaluate_video(cut, nearest_x2, 2)


def test_undecodable_stream(tmp_path: Path) -> None:
    p = tmp_path / "clip.mkv"
    make_clip(p, audio=None, n=6)
    data = bytearray(p.read_bytes())
    start = data.find(b"\x1f\x43\xb6\x75")  # the first Matroska cluster
    for i in range(start + 40, len(data) - 8, 3):
        data[i] = 0xFF
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputImageError):
        video.upscale_video(bad, tmp_path / "o.mkv", nearest_x2, 2)
    assert not (tmp_path / "o.mkv").exists()


def test_evaluate_video(tmp_path: Path) -> None:
    p = tmp_path / "clip.mkv"
    make_clip(p, audio="pcm_s16le")
    score = video_scores.evaluate_video(p, nearest_x2, 2, max_frames=6)
    assert score.frames == 6 and len(score.frame_psnr) == 6
    assert np.isfinite(score.psnr) and 0 < score.ssim <= 1
    assert score.temporal_psnr is not None and np.isfinite(score.temporal_psnr)
    ident = video_scores.evaluate_video(p, lambda fr: [np.repeat(np.repeat(f, 2, 0), 2, 1)
                                                for f in fr], 2, max_frames=1)
    assert ident.frames == 1 and ident.temporal_psnr is None
    assert score.as_record()["name"] == "clip.mkv"


def test_temporal_figure_catches_flicker(tmp_path: Path) -> None:
    p = tmp_path / "clip.mkv"
    make_clip(p, audio=None, n=6)
    k = [0]

    def flicker(frames: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for f in nearest_x2(frames):
            k[0] += 1
            out.append(np.clip(f.astype(int) + (6 if k[0] % 2 else -6), 0, 255).astype(np.uint8))
        return out

    steady = video_scores.evaluate_video(p, nearest_x2, 2)
    flick = video_scores.evaluate_video(p, flicker, 2)
    assert flick.temporal_psnr is not None and steady.temporal_psnr is not None
    assert flick.temporal_psnr < steady.temporal_psnr - 3


def test_evaluate_too_small(tmp_path: Path) -> None:
    p = tmp_path / "clip.mkv"
    make_clip(p, audio=None, n=2, w=16, h=16)
    with pytest.raises(DatasetError, match="too small"):
        video_scores.evaluate_video(p, nearest_x2, 4)


def test_an_audio_encoder_is_refused_naming_the_video_ones(tmp_path: Path) -> None:
    """--codec aac (an audio encoder) made add_stream raise TypeError: a usage error now."""
    src = tmp_path / "in.mp4"
    make_clip(src, audio=None, n=2)
    with pytest.raises(UsageError) as e:
        video.upscale_video(src, tmp_path / "o.mp4", nearest_x2, 2, codec="aac")
    assert str(e.value).startswith(
        "codec aac: an audio encoder, not a video one; video encoders for a .mp4 file here: "
        "libx264")
    with pytest.raises(UsageError, match="codec nope264: this FFmpeg has no such video encoder; "
                                         "video encoders for a .mp4 file here: libx264"):
        video.upscale_video(src, tmp_path / "o.mp4", nearest_x2, 2, codec="nope264")
    assert not (tmp_path / "o.mp4").exists()


def test_an_mp4_whose_index_is_cut_off_is_called_truncated(tmp_path: Path) -> None:
    """Without faststart the index (moov) comes last: cut inside it, no stream can be read."""
    p = tmp_path / "clip.mp4"
    make_clip(p, audio=None, n=3)
    data = p.read_bytes()
    moov = data.find(b"moov")
    assert moov > data.find(b"mdat") > 0
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:moov + 40])
    with pytest.raises(InputImageError, match=r"cut.mp4: damaged or truncated video file \(no "
                                              r"stream can be read from it\)"):
        video.upscale_video(cut, tmp_path / "o.mp4", nearest_x2, 2)


def test_alpha_the_output_cannot_keep_is_a_warning(tmp_path: Path) -> None:
    src = tmp_path / "alpha.mov"
    make_alpha_clip(src)
    rec = video.upscale_video(src, tmp_path / "o.mp4", nearest_x2, 2)
    assert len(rec.warnings) == 1 and rec.warnings[0].startswith(
        "alpha not kept: the source's yuva444p")
    assert rec.warnings[0].endswith(f"written as {rec.pix_fmt} without it")
    assert rec.as_record()["warnings"] == rec.warnings
    plain = tmp_path / "plain.mp4"
    make_clip(plain, audio=None, n=2)
    assert video.upscale_video(plain, tmp_path / "p.mp4", nearest_x2, 2).warnings == []


def test_frame_size_from_the_header(tmp_path: Path) -> None:
    from srgan_cli.media.decode import peek_size

    make_clip(tmp_path / "c.mkv", audio=None, n=2)
    assert video.frame_size(tmp_path / "c.mkv") == (H, W)
    assert peek_size(tmp_path / "c.mkv") == (H, W)
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 10)
    assert peek_size(tmp_path / "junk.mp4") is None


@pytest.mark.slow
def test_svt_av1_prints_nothing(tmp_path: Path) -> None:
    """SVT-AV1 writes a banner straight to stderr, past -q and FFmpeg's log level: kept to its
    errors (unless the user set SVT_LOG)."""
    import subprocess
    import sys

    from helpers import child_env

    make_clip(tmp_path / "c.mp4", audio=None, n=2)
    env = child_env()
    env.pop("SVT_LOG", None)
    code = ("import sys; from srgan_cli.media import video; "
            "video.upscale_video(sys.argv[1], sys.argv[2], lambda f: f, 1, codec='libsvtav1')")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.mp4"),
                          str(tmp_path / "o.webm")], capture_output=True, text=True, env=env,
                         check=False)
    assert run.returncode == 0 and (tmp_path / "o.webm").is_file(), run.stderr
    assert run.stderr == ""
