"""`srgan upscale` on videos and animations: routed through the batch engine, same kind out."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import run_srgan as run
from media_builders import AH, AW, N, make_alpha_clip, make_clip, make_damaged_apng, probe
from media_builders import ANIMATION_DURATIONS as DURATIONS
from media_builders import make_animation as make
from media_builders import read_animation as read
from PIL import Image

from srgan_cli.errors import InputImageError, OutputError, UsageError
from srgan_cli.evaluation.metrics import psnr
from srgan_cli.media.resize import imresize
from srgan_cli.upscaling import batch, media_jobs
from srgan_cli.upscaling.pipeline import run_batch
from srgan_cli.upscaling.planning import plan_jobs

pytestmark = pytest.mark.usefixtures("in_tmp_without_weights")


def still(path: Path, h: int = 10, w: int = 12) -> Path:
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(path)
    return path


@pytest.mark.slow
def test_video_in_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "clip.mp4"
    make_clip(src)
    code, out, err = run(["upscale", "clip.mp4", "clip_x4.mp4", "--model", "bicubic",
                          "--crf", "0", "--pix-fmt", "yuv444p"], capsys)
    assert code == 0, err
    assert "libx264 yuv444p crf 0" in out and f"{N} frames" in out
    a, b = probe(src), probe(tmp_path / "clip_x4.mp4")
    assert b["pts"] == a["pts"] and b["size"] == (128, 96) and b["audio"] == ["aac"]
    for lr, sr in zip(a["rgb"], b["rgb"], strict=True):  # the frame alone, upscaled
        assert psnr(sr, imresize(lr, 4)) >= 35
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name or p.name.startswith(".")]


@pytest.mark.slow
def test_json_record_names_the_codec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_clip(tmp_path / "clip.mkv", audio=None)
    code, out, _ = run(["upscale", "clip.mkv", "-o", "big", "--model", "bicubic", "--json",
                        "--outscale", "2"], capsys)
    assert code == 0
    rec = json.loads(out)
    assert rec["output"] == str(Path("big") / "clip.mkv")  # -o DIR keeps the container
    assert rec["output_size"] == [64, 48] and rec["input_size"] == [32, 24]
    v = rec["video"]
    assert v["frames_in"] == v["frames_out"] == N and v["codec"]
    assert {"wait_decode", "wait_encode", "frames_per_second", "pix_fmt", "crf"} <= v.keys()
    assert "video" not in json.loads(json.dumps(batch.Record("a", "b", "ok").as_json()))


@pytest.mark.slow
def test_folder_mixing_images_videos_animations(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "mix"
    d.mkdir()
    make_clip(d / "clip.mp4", audio=None)
    make(d / "anim.gif", "GIF")
    make(d / "anim.png", "PNG")
    still(d / "photo.png")
    still(d / "flat.gif")  # a still GIF is not a supported format: not picked up
    code, out, err = run(["upscale", "mix", "-o", "out", "--model", "bicubic"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "anim.gif", "anim.png", "clip.mp4", "photo.png"]
    for name in ("anim.gif", "anim.png"):  # every frame, same kind, durations kept
        frames, durations, loop = read(tmp_path / "out" / name)
        assert len(frames) == len(DURATIONS) and durations == DURATIONS and loop == 0
        assert frames[0].shape == (48, 64, 4)
    assert "4 upscaled" in out
    # a re-run beside the inputs skips nothing it should not and never re-reads its outputs
    code, out, err = run(["upscale", "mix", "--model", "bicubic", "-s", "2"], capsys)
    assert code == 0, err
    assert (d / "clip_x2.mp4").is_file() and (d / "anim_x2.gif").is_file()
    code, out, _ = run(["upscale", "mix", "--model", "bicubic", "-s", "2"], capsys)
    assert code == 0 and "0 upscaled" in out


def test_glob_picks_videos(tmp_path: Path) -> None:
    make_clip(tmp_path / "a.mp4", audio=None, n=2)
    still(tmp_path / "b.png")
    jobs = plan_jobs(["*"], output_dir=tmp_path / "o", suffix=None, ext="jpg", recursive=False,
                     scale_label="x4")
    outs = sorted(j.output.name for j in jobs if j.output is not None)
    assert outs == ["a.mp4", "b.jpg"]  # --ext is for still images; a video keeps its kind


@pytest.mark.slow
def test_animated_input_never_silently_first_frame(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    make(tmp_path / "a.webp", "WEBP", loop=2)
    code, _, err = run(["upscale", "a.webp", "b.webp", "--model", "bicubic"], capsys)
    assert code == 0, err
    frames, durations, loop = read(tmp_path / "b.webp")
    assert len(frames) == len(DURATIONS) and loop == 2
    # the other kind of file is refused in one line, never a still of the first frame
    code, _, err = run(["upscale", "a.webp", "c.png", "--model", "bicubic"], capsys)
    assert code == OutputError.exit_code and "WEBP animation must be written as webp" in err
    assert not (tmp_path / "c.png").exists()


@pytest.mark.slow
def test_multipage_tiff_stays_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pages = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 200)]
    pages[0].save(tmp_path / "m.tif", save_all=True, append_images=pages[1:])
    code, _, err = run(["upscale", "m.tif", "o.tif", "--model", "bicubic"], capsys)
    assert code == InputImageError.exit_code
    assert err.strip().splitlines() == [
        "error: m.tif: multi-page TIFF with 2 pages: only single images are supported; "
        "extract the one you want first"]


@pytest.mark.slow
def test_bad_videos_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    code, _, err = run(["upscale", "junk.mp4", "o.mp4", "--model", "bicubic"], capsys)
    assert code == InputImageError.exit_code and len(err.strip().splitlines()) == 1
    make_clip(tmp_path / "c.mp4", audio=None, n=2)
    code, _, err = run(["upscale", "c.mp4", "o.mp4", "--model", "bicubic", "--codec",
                        "nosuch"], capsys)
    assert code == UsageError.exit_code and "codec nosuch: this FFmpeg has no such" in err
    code, _, err = run(["upscale", "c.mp4", "o.mp4", "--model", "bicubic", "--crf", "99"],
                       capsys)
    assert code == UsageError.exit_code and "--crf" in err
    code, _, err = run(["upscale", "c.mp4", "o.mp4", "--model", "bicubic", "-s", "2.5"], capsys)
    assert code == UsageError.exit_code and "whole-number" in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.slow
def test_interrupt_leaves_no_partial_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    make_clip(tmp_path / "c.mp4", audio=None)
    calls = []

    def interrupted(upscaler: object, outscale: object) -> media_jobs.FrameFn:
        def fn(frames: list[np.ndarray]) -> list[np.ndarray]:
            calls.append(len(frames))
            if len(calls) == 2:
                raise KeyboardInterrupt
            return [np.repeat(np.repeat(f, 4, 0), 4, 1) for f in frames]
        return fn

    monkeypatch.setattr(media_jobs, "frame_function", interrupted)
    code, _, err = run(["upscale", "c.mp4", "o.mp4", "--model", "bicubic"], capsys)
    assert code == 130 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4", "weights"]


def test_frame_function_uses_the_upscaler(tmp_path: Path) -> None:
    from srgan_cli.models.loading import load
    from srgan_cli.upscaling.upscaler import Upscaler

    up = Upscaler(load("bicubic"), device="cpu", tile=0)
    frame = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    [out] = media_jobs.frame_function(up, None)([frame])
    assert np.array_equal(out, up.upscale_array(frame))
    assert media_jobs.frame_scale(up, 2.0) == 2 and media_jobs.frame_scale(up, None) == 4


class _Frames(batch.Reporter):
    def __init__(self) -> None:
        self.seen: list[tuple[int, int | None]] = []

    def frame_progress(self, job: object, done: int, total: int | None) -> None:
        self.seen.append((done, total))


def test_progress_over_frames(tmp_path: Path) -> None:
    make_clip(tmp_path / "c.mp4", audio=None)
    rep = _Frames()
    result = run_batch([str(tmp_path / "c.mp4")], batch.UpscaleOptions(model="bicubic"),
                             rep)
    result.check()
    assert rep.seen and rep.seen[-1] == (N, N)
    with av.open(str(tmp_path / "c_x4.mp4")) as c:
        assert c.streams.video[0].codec_context.width == 128


def test_animations_go_by_content_not_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    """An animated GIF named .jpg was refused as a still; an animated WebP named .png was
    written as .png and refused (exit 4). Each is written as its own kind."""
    make(tmp_path / "gif.jpg", "GIF")
    make(tmp_path / "webp.png", "WEBP")
    code, out, err = run(["upscale", "gif.jpg", "webp.png", "-o", "out", "--model", "bicubic",
                          "-s", "2"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gif.gif", "webp.webp"]
    for name in ("gif.gif", "webp.webp"):
        frames, durations, _ = read(tmp_path / "out" / name)
        assert len(frames) == len(DURATIONS) and frames[0].shape == (2 * AH, 2 * AW, 4)


def test_a_damaged_apng_is_an_input_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    make_damaged_apng(tmp_path / "bad.png")
    code, _, err = run(["upscale", "bad.png", "-o", "out", "--model", "bicubic"], capsys)
    assert code == InputImageError.exit_code
    assert err.strip().splitlines() == [
        "error: bad.png: damaged animation: frame 2 of 3 does not decode (APNG contains invalid "
        "frames)"]


def test_animation_limits_are_checked_before_decoding(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--max-pixels bounds frames x canvas of the input, --max-output-pixels the upscaled
    frames held for the writer (each was ignored for animations)."""
    make(tmp_path / "a.gif", "GIF")  # 5 frames of AW x AH
    frames = len(DURATIONS)
    code, _, err = run(["upscale", "a.gif", "-o", "out", "--model", "bicubic",
                        "--max-pixels", str(frames * AW * AH - 1)], capsys)
    assert code == InputImageError.exit_code
    assert f"animation is {frames} frames of {AW}x{AH}" in err and "max" in err
    total = frames * (4 * AW) * (4 * AH)
    code, _, err = run(["upscale", "a.gif", "-o", "out", "--model", "bicubic",
                        "--max-output-pixels", str(total - 1)], capsys)
    assert code == OutputError.exit_code
    assert f"the output would be {frames} frames of {4 * AW}x{4 * AH} = {total} pixels" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    code, _, err = run(["upscale", "a.gif", "-o", "out", "--model", "bicubic",
                        "--max-pixels", str(frames * AW * AH),
                        "--max-output-pixels", str(total)], capsys)
    assert code == 0, err


@pytest.mark.slow
def test_an_animation_bomb_is_refused_at_the_default_limit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Many large frames (each under the limit, all far above it): refused from the header, at
    once, never decoded into memory."""
    frames = [Image.new("P", (2000, 2000), i) for i in range(25)]  # 100 MP, tiny when coded
    frames[0].save(tmp_path / "bomb.gif", save_all=True, append_images=frames[1:],
                   duration=10, loop=0)
    del frames
    code, _, err = run(["upscale", "bomb.gif", "-o", "out", "--model", "bicubic"], capsys)
    assert code == InputImageError.exit_code
    assert "animation is 25 frames of 2000x2000 = 100000000 pixels, over the limit" in err


def test_max_output_pixels_reaches_videos(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    make_clip(tmp_path / "c.mp4", audio=None, n=2)
    code, _, err = run(["upscale", "c.mp4", "-o", "out", "--model", "bicubic",
                        "--max-output-pixels", "10000"], capsys)
    assert code == OutputError.exit_code and "the output would be 128x96" in err


@pytest.mark.slow
def test_audio_codec_and_dropped_alpha(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    make_clip(tmp_path / "c.mp4", audio=None, n=2)
    code, _, err = run(["upscale", "c.mp4", "o.mp4", "--model", "bicubic", "--codec", "aac"],
                       capsys)
    assert code == UsageError.exit_code
    assert "codec aac: an audio encoder, not a video one; video encoders for a .mp4 file here: " \
        "libx264" in err
    make_alpha_clip(tmp_path / "a.mov")
    code, out, err = run(["upscale", "a.mov", "b.mp4", "--model", "bicubic", "--json"], capsys)
    assert code == 0, err
    [note] = json.loads(out)["warnings"]
    assert note.startswith("alpha not kept: the source's yuva444p")
