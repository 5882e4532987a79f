"""The batch engine without the CLI: options, planning and collision rules, the runner with a
fake upscaler, the reporter's calls, exit-code aggregation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from srgan_cli.errors import (
    EXIT_INTERNAL,
    EXIT_MIXED,
    BatchError,
    InputImageError,
    OutputError,
    StreamClosed,
    UsageError,
)
from srgan_cli.media.decode import DEFAULT_MAX_PIXELS, ImageData
from srgan_cli.upscaling.batch import (
    BatchResult,
    Record,
    Reporter,
    UpscaleOptions,
    load_upscaler,
)
from srgan_cli.upscaling.pipeline import run_batch, run_jobs
from srgan_cli.upscaling.planning import (
    Job,
    Source,
    assign_outputs,
    normalise_ext,
    output_for,
    plan_jobs,
    scale_label,
)
from srgan_cli.upscaling.upscaler import ProgressCb


def write_png(path: Path, h: int = 6, w: int = 8, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


class Nearest:
    """A fake upscaler: nearest-neighbour x2, reports progress; fails on images 5 px high."""

    scale = 2
    tile: int | None = None  # not tiled
    tiling_exact: bool | None = None

    def upscale_image(
        self, img: ImageData, outscale: float | None = None, progress_cb: ProgressCb | None = None
    ) -> ImageData:
        h, w = img.color.shape[:2]
        if h == 5:
            raise RuntimeError("boom\nsecond line")
        if progress_cb is not None:
            progress_cb(h * w // 2, h * w)
            progress_cb(h * w, h * w)
        return img.replace(color=img.color.repeat(2, axis=0).repeat(2, axis=1), alpha=None)


class Recorder(Reporter):
    """Keeps every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def note(self, text: str) -> None:
        self.calls.append(("note", text))

    def batch_started(self, jobs: Sequence[Job]) -> None:
        self.calls.append(("batch_started", len(jobs)))

    def image_started(self, job: Job) -> None:
        self.calls.append(("image_started", job.input.name))

    def image_progress(self, job: Job, done: int, total: int) -> None:
        self.calls.append(("image_progress", (job.input.name, done, total)))

    def image_finished(self, record: Record) -> None:
        self.calls.append(("image_finished", record.status))

    def batch_finished(self, result: BatchResult) -> None:
        self.calls.append(("batch_finished", len(result.records)))


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overwrite": True, "skip_existing": True}, "exclude each other"),
        ({"outscale": 0.0}, "outscale must be positive"),
        ({"tile": -1}, "tile must be >= 0 (0 = whole image)"),
        ({"tile_pad": -1}, "tile_pad must be >= 0"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"max_pixels": -5}, "max_pixels must be >= 0"),
    ],
)
def test_options_are_checked_when_built(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        UpscaleOptions(**kwargs)


def test_options_defaults_and_pixel_limit() -> None:
    opts = UpscaleOptions()
    assert opts.pixel_limit == DEFAULT_MAX_PIXELS and opts.tile is None
    assert UpscaleOptions(max_pixels=0).pixel_limit is None
    assert UpscaleOptions(max_pixels=100).pixel_limit == 100
    with pytest.raises(AttributeError):
        opts.tile = 3  # type: ignore[misc]


# ----------------------------------------------------------------------------- planning


def test_scale_label_and_ext() -> None:
    assert scale_label(4) == "x4" and scale_label(4.0) == "x4" and scale_label(2.5) == "x2.5"
    assert normalise_ext("PNG") == ".png" and normalise_ext(".jpg") == ".jpg"
    assert normalise_ext(None) is None
    with pytest.raises(OutputError, match="ext gif: unknown output extension"):
        normalise_ext("gif")


def test_output_for_mirrors_subfolders(tmp_path: Path) -> None:
    src = Source(tmp_path / "in" / "sub" / "a.JPG", tmp_path / "in")
    assert output_for(src, tmp_path / "out", "", None) == tmp_path / "out" / "sub" / "a.jpg"
    assert output_for(src, None, "_x4", ".png") == tmp_path / "in" / "sub" / "a_x4.png"
    gif = Source(tmp_path / "a.gif", named=True)  # not writable as GIF: PNG
    assert output_for(gif, None, "_x2", None) == tmp_path / "a_x2.png"


def test_collision_rules_are_pure(tmp_path: Path) -> None:
    """No file exists: the rules only look at paths."""
    d = tmp_path / "nowhere"
    items: list[Source | Job] = [
        Source(d / "a.png", d),  # found in a folder
        Source(d / "a_x4.png", d),  # found: a's output -> skipped
        Source(d / "a_x4_x4.png", d),  # found: the output of a skipped file -> skipped too
        Source(d / "b.png", named=True),
        Source(d / "b_x4.png", named=True),  # named: an input, so b's output is refused
        Source(d / "c.bmp", named=True),
        Source(d / "c.png", named=True),  # same output as c.bmp with --ext png
        Job(d / "gone.png", error=InputImageError("gone")),
    ]
    jobs = assign_outputs(items, None, "_x4", None)
    assert [j.input.name for j in jobs] == [
        "a.png", "a_x4.png", "a_x4_x4.png", "b.png", "b_x4.png", "c.bmp", "c.png", "gone.png"]
    a, a4, a44, b, b4, cb, cp, gone = jobs
    assert a.output == d / "a_x4.png" and a.error is None and a.skip_reason is None
    assert a4.skip_reason == f"named as this batch's output for {d / 'a.png'}" and a4.output is None
    assert a44.skip_reason is not None and "a_x4.png" in a44.skip_reason
    assert isinstance(b.error, OutputError) and "is also an input of this batch" in str(b.error)
    assert b4.error is None and b4.output == d / "b_x4_x4.png"
    assert cb.error is None and cp.error is None  # different extensions: different outputs
    assert isinstance(gone.error, InputImageError)
    jobs = assign_outputs(items[5:7], d / "o", "", ".png")
    assert jobs[0].error is None and jobs[0].make_folder
    assert "is also the output of" in str(jobs[1].error)
    (same,) = assign_outputs([Source(d / "a.png", named=True)], None, "", None)
    assert "the output would replace the input" in str(same.error)


def test_plan_jobs_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png", seed=1)
    (job,) = plan_jobs(["a.png", "new.png"], output_dir=None, suffix=None, ext=None,
                       recursive=False, scale_label="x4")
    assert job.output == Path("new.png") and job.error is None
    with pytest.raises(UsageError, match="b.png exists"):
        plan_jobs(["a.png", "b.png"], output_dir=None, suffix=None, ext=None, recursive=False,
                  scale_label="x4")
    with pytest.raises(UsageError, match="excludes output_dir"):
        plan_jobs(["a.png"], output_dir=Path("o"), suffix=None, ext=None, recursive=False,
                  scale_label="x4", output=Path("x.png"))
    jobs = plan_jobs(["*.png"], output_dir=Path("o"), suffix=None, ext="jpg", recursive=False,
                     scale_label="x4")
    assert [j.output for j in jobs] == [Path("o/a.jpg"), Path("o/b.jpg")]
    assert (tmp_path / "o").is_dir()


# ----------------------------------------------------------------------------- runner


def test_runner_records_and_reporter(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png")
    (tmp_path / "bad.png").write_text("not an image")
    write_png(tmp_path / "boom.png", h=5)
    write_png(tmp_path / "c.png", seed=2)
    (tmp_path / "c_x2.png").write_bytes(b"keep")
    jobs = [Job(tmp_path / n, tmp_path / n.replace(".png", "_x2.png"))
            for n in ("a.png", "bad.png", "boom.png", "c.png")]
    jobs.append(Job(tmp_path / "gone.png", error=InputImageError("gone.png: no such file")))
    rep = Recorder()
    result = run_jobs(jobs, Nearest(), UpscaleOptions(skip_existing=True), rep)
    a, bad, boom, c, gone = result.records
    assert a.status == "ok" and a.input_size == [8, 6] and a.output_size == [16, 12]
    got = np.asarray(Image.open(tmp_path / "a_x2.png"))
    assert np.array_equal(got, np.asarray(Image.open(tmp_path / "a.png")).repeat(2, 0).repeat(2, 1))
    assert bad.status == "error" and bad.exit_code == InputImageError.exit_code
    assert not (tmp_path / "bad_x2.png").exists()
    assert boom.status == "error" and boom.exit_code == EXIT_INTERNAL
    assert boom.error == f"{tmp_path / 'boom.png'}: internal error: RuntimeError: boom"
    assert c.status == "skipped" and c.note == f"{tmp_path / 'c_x2.png'} exists"
    assert (tmp_path / "c_x2.png").read_bytes() == b"keep"
    assert gone.status == "error" and gone.error == "gone.png: no such file"
    assert result.exit_code == EXIT_MIXED and result.seconds > 0
    assert rep.calls[:5] == [
        ("batch_started", 5), ("image_started", "a.png"), ("image_progress", ("a.png", 24, 48)),
        ("image_progress", ("a.png", 48, 48)), ("image_finished", "ok")]
    assert [call for call in rep.calls if call[0] == "image_finished"] == [
        ("image_finished", s) for s in ("ok", "error", "error", "skipped", "error")]
    assert rep.calls[-1] == ("batch_finished", 5)
    with pytest.raises(BatchError, match="3 of 5 images failed") as e:
        result.check()
    assert e.value.exit_code == EXIT_MIXED


def test_existing_output_fails_its_image_only(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png")
    (tmp_path / "a_x2.png").write_bytes(b"old")
    job = Job(tmp_path / "a.png", tmp_path / "a_x2.png")
    result = run_jobs([job], Nearest(), UpscaleOptions())
    (rec,) = result.records
    assert rec.status == "error" and rec.exit_code == OutputError.exit_code
    assert (tmp_path / "a_x2.png").read_bytes() == b"old"
    with pytest.raises(BatchError) as e:  # one image: its own message and exit code
        result.check()
    assert str(e.value) == rec.error and e.value.exit_code == OutputError.exit_code
    result = run_jobs([job], Nearest(), UpscaleOptions(overwrite=True))
    assert result.exit_code == 0 and result.records[0].output_size == [16, 12]
    result.check()


def test_exit_code_aggregation() -> None:
    def rec(status: str, code: int = 0) -> Record:
        return Record("in", "out", status, exit_code=code, error="e" if code else None)

    assert BatchResult([rec("ok"), rec("skipped")]).exit_code == 0
    BatchResult([rec("ok"), rec("skipped")]).check()
    assert BatchResult([]).exit_code == 0
    same = BatchResult([rec("ok"), rec("error", 3), rec("error", 3)])
    assert same.exit_code == 3 and len(same.failed) == 2
    with pytest.raises(BatchError, match="2 of 3 images failed") as e:
        same.check()
    assert e.value.exit_code == 3
    assert BatchResult([rec("error", 3), rec("error", 4)]).exit_code == EXIT_MIXED


# ----------------------------------------------------------------------------- whole batch


def test_run_batch_without_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A script runs a batch: the model loaded, the device resolved once, records back."""
    import srgan_cli.upscaling.upscaler as upscale_mod
    from srgan_cli.devices import resolve_device

    (tmp_path / "weights").mkdir()
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path / "weights"))  # nothing installed
    calls: list[str] = []

    def counting(spec: str) -> torch.device:
        calls.append(spec)
        return resolve_device(spec)

    monkeypatch.setattr(upscale_mod, "resolve_device", counting)
    write_png(tmp_path / "a.png")
    opts = UpscaleOptions(output_dir=tmp_path / "out", outscale=2, device="cpu")
    rep = Recorder()
    up = load_upscaler(opts, rep)
    assert calls == ["cpu"] and up.device == torch.device("cpu") and up.auto_tile  # by memory
    assert rep.calls == [("note", "note: the default model srresnet_x4 is not installed; "
                                  "using bicubic")]
    result = run_batch([str(tmp_path / "a.png")], opts, rep, upscaler=up)
    assert result.exit_code == 0 and result.records[0].output_size == [16, 12]
    assert (tmp_path / "out" / "a.png").exists() and calls == ["cpu"]
    # a resolved device is used as it is
    up = load_upscaler(UpscaleOptions(model="bicubic", device=torch.device("cpu"), tile=0))
    assert calls == ["cpu"] and up.tile == 0
    result = run_batch([str(tmp_path / "a.png")], UpscaleOptions(model="bicubic"))
    assert result.records[0].output == str(tmp_path / "a_x4.png")


def test_output_size_error_names_the_limit_and_the_memory() -> None:
    from srgan_cli.upscaling.planning import output_size_error

    p = Path("a.png")
    assert output_size_error(p, (100, 200), 4, max_output_pixels=400_000_000, memory=None) is None
    e = output_size_error(p, (9000, 9000), 4, max_output_pixels=400_000_000, memory=None)
    assert e is not None and "36000x36000" in str(e)
    assert str(e).endswith("raise it with max_output_pixels (0 = no limit)")
    assert output_size_error(p, (9000, 9000), 4, max_output_pixels=0, memory=None) is None
    e = output_size_error(p, (1000, 1000), 4, max_output_pixels=0, memory=2**20)
    assert e is not None and "needs about 0.1 GiB of memory; 0.0 GiB is available" in str(e)
    with pytest.raises(UsageError, match="max_output_pixels must be >= 0"):
        UpscaleOptions(max_output_pixels=-1)


# ----------------------------------------------------------------------------- the pipeline


class Gated(Nearest):
    """Nearest x2 whose images wait, before the model runs, for a condition (or give up)."""

    def __init__(self, waits: dict[int, Callable[[], bool]]) -> None:
        import threading

        self.waits, self.calls, self.lock = waits, 0, threading.Lock()

    def upscale_image(self, img: ImageData, outscale: float | None = None,
                      progress_cb: ProgressCb | None = None) -> ImageData:
        import time

        k, self.calls = self.calls, self.calls + 1
        cond = self.waits.get(k)
        deadline = time.monotonic() + 10
        while cond is not None and not cond() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert cond is None or cond(), f"image {k}: the pipeline did not overlap"
        return super().upscale_image(img, outscale, progress_cb)


def test_decode_and_encode_run_beside_the_model(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from srgan_cli.media import decode, encode
    names = [f"i{k}.png" for k in range(4)]
    for k, n in enumerate(names):
        write_png(tmp_path / n, seed=k)
    read, write = decode.read_image, encode.write_image
    decoded: list[str] = []
    second_model_started = threading.Event()

    def reading(path: Path, **kw: Any) -> ImageData:
        decoded.append(Path(path).name)
        return read(path, **kw)

    def writing(path: Path, image: ImageData, **kw: Any) -> None:
        if Path(path).name == "i0_x2.png":  # encoding image 0 waits for the model on image 1
            assert second_model_started.wait(10), "the model waited for the encoder"
        write(path, image, **kw)

    monkeypatch.setattr(decode, "read_image", reading)
    monkeypatch.setattr(encode, "write_image", writing)

    def image1_may_start() -> bool:
        second_model_started.set()
        return True

    # the model on image 0 waits until image 1 is decoded: only a reader thread can do that
    upscaler = Gated({0: lambda: "i1.png" in decoded, 1: image1_may_start})
    jobs = [Job(tmp_path / n, tmp_path / n.replace(".png", "_x2.png")) for n in names]
    rep = Recorder()
    result = run_jobs(jobs, upscaler, UpscaleOptions(), rep)
    assert [r.status for r in result.records] == ["ok"] * 4
    assert [r.input for r in result.records] == [str(j.input) for j in jobs]
    finished = [c for c in rep.calls if c[0] in ("image_started", "image_finished")]
    assert finished == [c for n in names for c in (("image_started", n), ("image_finished", "ok"))]
    assert result.model_seconds > 0 and result.wait_seconds >= 0


def test_a_broken_stdout_during_progress_is_not_an_image_failure(tmp_path: Path) -> None:
    """The reader of --json going away while a progress or record line is printed (from inside
    the model step) stops the batch with StreamClosed; the image is not counted as failed."""

    class PipeGone(Recorder):
        def image_progress(self, job: Job, done: int, total: int) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    write_png(tmp_path / "a.png")
    with pytest.raises(StreamClosed):
        run_jobs([Job(tmp_path / "a.png", tmp_path / "a_x2.png")], Nearest(), UpscaleOptions(),
                 PipeGone())


def test_a_broken_pipe_naming_a_file_fails_that_image(tmp_path: Path) -> None:
    class FifoOut(Nearest):
        def upscale_image(self, img: ImageData, outscale: float | None = None,
                          progress_cb: ProgressCb | None = None) -> ImageData:
            raise BrokenPipeError(32, "Broken pipe", "fifo")

    write_png(tmp_path / "a.png")
    (rec,) = run_jobs([Job(tmp_path / "a.png", tmp_path / "a_x2.png")], FifoOut(),
                      UpscaleOptions()).records
    assert rec.status == "error" and rec.exit_code == OutputError.exit_code


def test_an_interrupt_stops_the_threads_and_leaves_no_temp(tmp_path: Path) -> None:
    import threading

    for k in range(4):
        write_png(tmp_path / f"i{k}.png", seed=k)

    class Interrupting(Nearest):
        calls = 0

        def upscale_image(self, img: ImageData, outscale: float | None = None,
                          progress_cb: ProgressCb | None = None) -> ImageData:
            Interrupting.calls += 1
            if Interrupting.calls == 3:
                raise KeyboardInterrupt
            return super().upscale_image(img, outscale, progress_cb)

    before = threading.active_count()
    jobs = [Job(tmp_path / f"i{k}.png", tmp_path / "out" / f"i{k}.png", make_folder=True)
            for k in range(4)]
    rep = Recorder()
    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, Interrupting(), UpscaleOptions(), rep)
    assert threading.active_count() <= before + 1  # only the finished feeder may linger
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    # complete files only, no temp: image 1 was written, or dropped before its encode began
    assert written in (["i0.png"], ["i0.png", "i1.png"])
    assert [c for c in rep.calls if c[0] == "image_finished"] == [("image_finished", "ok")] * len(
        written)


# ----------------------------------------------------------------------------- hostile inputs


@pytest.mark.parametrize("suffix", ["/../../escaped", "a/b", "..", "x..y", "a\\b", "a\x00b"])
def test_a_suffix_cannot_leave_the_output_folder(tmp_path: Path, suffix: str) -> None:
    """A name part with a path separator, NUL or '..' is a usage error before any work."""
    write_png(tmp_path / "in" / "a.png")
    with pytest.raises(UsageError, match="suffix '.*': must not hold a path separator"):
        UpscaleOptions(output_dir=tmp_path / "out", suffix=suffix)
    for out_dir in (tmp_path / "out", None):
        with pytest.raises(UsageError, match="must not hold a path separator"):
            plan_jobs([str(tmp_path / "in")], output_dir=out_dir, suffix=suffix, ext=None,
                      recursive=False, scale_label="x2")
    with pytest.raises(UsageError, match="ext 'png/../x': must not hold"):
        UpscaleOptions(ext="png/../x")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "in"]  # nothing written


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e7, 0.0, -2.0])
def test_outscale_must_be_finite_and_in_range(value: float) -> None:
    with pytest.raises(UsageError, match="outscale must be positive and at most 1,000,000, got"):
        UpscaleOptions(outscale=value)
    assert UpscaleOptions(outscale=1e6).outscale == 1e6


def test_a_fifo_input_is_refused_before_any_open(tmp_path: Path) -> None:
    """Named FIFOs (an image and an animation suffix) fail with exit 3 at planning, without
    being opened (the watchdog would unblock a reader after 5 s); the batch goes on."""
    import time

    from helpers import fifo_watchdog

    from srgan_cli.media.decode import is_animated, open_animation, peek_size, read_image
    from srgan_cli.upscaling.planning import check_output_sizes

    write_png(tmp_path / "a.png")
    start = time.monotonic()
    with fifo_watchdog(tmp_path / "f.png"), fifo_watchdog(tmp_path / "g.gif"):
        jobs = plan_jobs([str(tmp_path / n) for n in ("f.png", "g.gif", "a.png")],
                         output_dir=tmp_path / "out", suffix=None, ext=None, recursive=False,
                         scale_label="x2")
        check_output_sizes(jobs, 2, max_output_pixels=0)
        result = run_jobs(jobs, Nearest(), UpscaleOptions())
        assert peek_size(tmp_path / "f.png") is None and not is_animated(tmp_path / "g.gif")
        for read in (read_image, open_animation):
            with pytest.raises(InputImageError, match=r"not a regular file \(a FIFO\)"):
                read(tmp_path / "g.gif")
        assert time.monotonic() - start < 4, "a FIFO was opened"
    f, g, a = result.records
    for rec, name in ((f, "f.png"), (g, "g.gif")):
        assert rec.status == "error" and rec.exit_code == InputImageError.exit_code
        assert rec.error == f"{tmp_path / name}: not a regular file (a FIFO)"
    assert a.status == "ok" and (tmp_path / "out" / "a.png").exists()


def test_a_symlink_loop_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.png").symlink_to(tmp_path / "y.png")
    (tmp_path / "y.png").symlink_to(tmp_path / "x.png")
    (job,) = plan_jobs([str(tmp_path / "x.png")], output_dir=tmp_path / "out", suffix=None,
                       ext=None, recursive=False, scale_label="x2")
    assert str(job.error) == f"{tmp_path / 'x.png'}: symlink loop"


@pytest.mark.parametrize(("inputs", "output", "output_dir", "message"), [
    (["-"], None, "out", "-: reading images from stdin is not supported"),
    (["a.png", "-"], None, None, "-: writing images to stdout is not supported"),
    (["a.png"], "-", None, "-: writing images to stdout is not supported"),
    (["a.png"], None, "-", "-: writing images to stdout is not supported"),
])
def test_stdin_and_stdout_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: list[str], output: str | None,
    output_dir: str | None, message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "a.png")
    with pytest.raises(UsageError, match=message):
        plan_jobs(inputs, output_dir=None if output_dir is None else Path(output_dir),
                  suffix=None, ext=None, recursive=False, scale_label="x2", output=output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_in_and_a_new_folder_with_a_slash_means_output_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "a.png")
    (job,) = plan_jobs(["a.png", "new/"], output_dir=None, suffix=None, ext=None,
                       recursive=False, scale_label="x2")
    assert job.output == Path("new/a.png") and job.error is None and (tmp_path / "new").is_dir()
    (job,) = plan_jobs(["a.png", "b.png"], output_dir=None, suffix=None, ext=None,
                       recursive=False, scale_label="x2")  # still IN OUT without the slash
    assert job.output == Path("b.png")


def test_a_recursive_pattern_does_not_follow_folder_links(tmp_path: Path) -> None:
    """As a folder with --recursive does not: a link to a folder outside is not entered."""
    from srgan_cli.media.discovery import upscale_inputs_in
    from srgan_cli.upscaling.planning import expand_inputs

    write_png(tmp_path / "in" / "sub" / "a.png")
    write_png(tmp_path / "outside" / "b.png")
    (tmp_path / "in" / "link").symlink_to(tmp_path / "outside")
    by_folder = upscale_inputs_in(tmp_path / "in", recursive=True)
    by_pattern = [s.path for s in expand_inputs([f"{tmp_path}/in/**/*.png"], recursive=True)
                  if isinstance(s, Source)]
    assert by_folder == by_pattern == [tmp_path / "in" / "sub" / "a.png"]
    named = [s.path for s in expand_inputs([f"{tmp_path}/in/link/**/*.png"], recursive=True)
             if isinstance(s, Source)]
    assert named == [tmp_path / "in" / "link" / "b.png"]  # a link the pattern names is entered


# ----------------------------------------------------------------------------- concurrent writers


class WritesOutput(Nearest):
    """Nearest x2 while another process writes `path` (before this batch encodes its own)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def upscale_image(self, img: ImageData, outscale: float | None = None,
                      progress_cb: ProgressCb | None = None) -> ImageData:
        self.path.write_bytes(b"theirs")
        return super().upscale_image(img, outscale, progress_cb)


def test_an_output_written_meanwhile_is_a_skip(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """An output that appears between planning and writing is skipped, as it would have been
    had it been there at planning: when it appears before the encoder's check, and when it
    appears just before the finished file is published."""
    from srgan_cli import fileio

    for name in ("a.png", "b.png"):
        write_png(tmp_path / "in" / name)
    out = tmp_path / "out"
    jobs = plan_jobs([str(tmp_path / "in")], output_dir=out, suffix=None, ext=None,
                     recursive=False, scale_label="x2")
    assert [j.output for j in jobs] == [out / "a.png", out / "b.png"]

    def publish_race(stage: str, tmp: Path) -> None:
        final = out / tmp.name.split(".srg")[0].lstrip(".")
        if stage == "publish" and final.name == "b.png":
            final.write_bytes(b"theirs")

    monkeypatch.setattr(fileio, "fault_hook", publish_race)
    result = run_jobs(jobs, WritesOutput(out / "a.png"), UpscaleOptions())
    assert [(r.status, r.note) for r in result.records] == [
        ("skipped", f"{out / 'a.png'} exists"), ("skipped", f"{out / 'b.png'} exists")]
    assert result.exit_code == 0
    assert (out / "a.png").read_bytes() == (out / "b.png").read_bytes() == b"theirs"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]  # no temp left
    # an animation's output alike (its writer checks and publishes its own target)
    from media_builders import make_animation

    (tmp_path / "anim").mkdir()
    make_animation(tmp_path / "anim" / "c.gif", "GIF")
    jobs_c = plan_jobs([str(tmp_path / "anim")], output_dir=out, suffix="_big", ext=None,
                       recursive=False, scale_label="x2")
    (rec,) = run_jobs(jobs_c, WritesOutput(out / "c_big.gif"), UpscaleOptions()).records
    assert (rec.status, rec.note) == ("skipped", f"{out / 'c_big.gif'} exists")
    assert (out / "c_big.gif").read_bytes() == b"theirs"
    # the one output of IN OUT is refused when it appears, as when it was there before
    monkeypatch.setattr(fileio, "fault_hook", None)
    job = Job(tmp_path / "in" / "a.png", tmp_path / "new.png")
    (rec,) = run_jobs([job], WritesOutput(tmp_path / "new.png"), UpscaleOptions()).records
    assert rec.status == "error" and rec.exit_code == OutputError.exit_code
    assert rec.error is not None and "exists" in rec.error
    # --overwrite replaces it
    (out / "a.png").unlink()
    (rec,) = run_jobs(jobs[:1], WritesOutput(out / "a.png"),
                      UpscaleOptions(overwrite=True)).records
    assert rec.status == "ok" and Image.open(out / "a.png").size == (16, 12)


# ----------------------------------------------------------------------------- output symlinks


def test_two_output_links_to_one_file_are_two_outputs(tmp_path: Path) -> None:
    """A write replaces a symlink at the output path (it never writes through it), so two
    output links to one file are two different outputs, not a collision."""
    inp, out = tmp_path / "in", tmp_path / "out"
    out.mkdir()
    for name in ("a.png", "b.png"):
        write_png(inp / name)
        (out / name).symlink_to(tmp_path / "target.png")
    (tmp_path / "target.png").write_bytes(b"target")
    jobs = plan_jobs([str(inp)], output_dir=out, suffix=None, ext=None, recursive=False,
                     scale_label="x2")
    assert [(j.output, j.error) for j in jobs] == [(out / "a.png", None), (out / "b.png", None)]
    result = run_jobs(jobs, Nearest(), UpscaleOptions())
    assert [r.status for r in result.records] == ["skipped", "skipped"]
    result = run_jobs(jobs, Nearest(), UpscaleOptions(overwrite=True))
    assert [r.status for r in result.records] == ["ok", "ok"]
    for name in ("a.png", "b.png"):
        assert not (out / name).is_symlink() and Image.open(out / name).size == (16, 12)
    assert (tmp_path / "target.png").read_bytes() == b"target"


def test_collisions_compare_what_is_written(tmp_path: Path) -> None:
    """An output that lands on an input (or on the file an input link reads) is still refused;
    an output link to an input is replaced, so it is no collision."""
    d = tmp_path
    write_png(d / "a.png")
    (d / "link.png").symlink_to(d / "a.png")
    (same,) = assign_outputs([Source(d / "link.png", named=True)], None, "", None)
    assert "the output would replace the input" in str(same.error)
    (job,) = assign_outputs([Source(d / "a.png", named=True)], None, "_x2", ".png")
    assert job.error is None
    (d / "a_x2.png").symlink_to(d / "elsewhere.png")
    (job,) = plan_jobs([str(d / "a.png")], output_dir=None, suffix=None, ext=None,
                       recursive=False, scale_label="x2", output=d / "link.png")
    assert job.error is None  # the link is replaced, a.png stays
    with pytest.raises(UsageError, match="exists"):  # still not IN OUT over an existing image
        plan_jobs([str(d / "a.png"), str(d / "link.png")], output_dir=None, suffix=None,
                  ext=None, recursive=False, scale_label="x2")


def test_json_records_hold_no_lone_surrogates() -> None:
    """Raw bytes of a name that is not UTF-8 are shown as \\xNN, as on the terminal."""
    import json

    rec = Record("in/a\udcff.png", "out/a\udcff.png", "ok", warnings=["w\udce9"])
    data = rec.as_json()
    assert data["input"] == "in/a\\xff.png" and data["output"] == "out/a\\xff.png"
    assert data["warnings"] == ["w\\xe9"]
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # strict UTF-8: no surrogates


def test_a_result_is_reported_while_the_model_works_on_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first image's line comes out when its file is in place, not after the second
    image's model run: its encoding is slow, and the fake model holds the second image until
    it has seen that line."""
    import threading
    import time

    from srgan_cli.upscaling import pipeline

    real_save = pipeline.save_step

    def slow_save(job: Job, rec: Record, img: ImageData, options: UpscaleOptions) -> None:
        time.sleep(0.5)  # still encoding when the model starts on the next image
        real_save(job, rec, img, options)

    monkeypatch.setattr(pipeline, "save_step", slow_save)

    names = [write_png(tmp_path / f"{i}.png", seed=i).name for i in range(2)]
    first_reported = threading.Event()

    class Waits(Nearest):
        calls = 0

        def upscale_image(self, img: ImageData, outscale: float | None = None,
                          progress_cb: ProgressCb | None = None) -> ImageData:
            Waits.calls += 1
            if Waits.calls == 2:
                seen.append(first_reported.wait(timeout=5))
            return super().upscale_image(img, outscale, None)

    class Tells(Recorder):
        def image_finished(self, record: Record) -> None:
            super().image_finished(record)
            first_reported.set()

    seen: list[bool] = []
    result = run_batch([str(tmp_path / n) for n in names],
                       UpscaleOptions(output_dir=tmp_path / "out"), Tells(), upscaler=Waits())
    assert [r.status for r in result.records] == ["ok", "ok"]
    assert seen == [True]
