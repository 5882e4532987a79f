"""`srgan eval`: PSNR/SSIM of one or more models on benchmark datasets, side by side."""

from __future__ import annotations

import re
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from srgan_cli.cli.params import (
    METRIC_OPTIONS,
    DataRoot,
    Device,
    Models,
    Offline,
    Precision,
    Tile,
    Tta,
    choice,
    complete_dataset,
    completer,
)
from srgan_cli.distributed import from_env
from srgan_cli.errors import BatchError, OutputError, UsageError
from srgan_cli.media.discovery import DIV2K_SIZES
from srgan_cli.messages import show_path
from srgan_cli.options import (
    DEFAULT_METRICS,
    WHOLE_IMAGE,
    check_metrics,
    check_tiling,
    parse_device,
    parse_precision,
)

if TYPE_CHECKING:
    from srgan_cli.evaluation.datasets import BenchmarkDataset
    from srgan_cli.evaluation.evaluate import EvalResult, ImageScore
    from srgan_cli.models.descriptor import ModelDescriptor


def _write_text_atomic(target: str, text: str, *, overwrite: bool = True) -> None:
    """Write `text` to a file via a temporary file and a rename, or to stdout for "-".

    The temporary file is removed on any exception, Ctrl-C included; without `overwrite` a file
    that appeared meanwhile is not replaced (OutputError "exists")."""
    from srgan_cli.fileio import atomic_write

    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target).expanduser()
    try:
        with (atomic_write(path, overwrite=overwrite) as tmp,
              tmp.open("w", encoding="utf-8", newline="") as fh):
            fh.write(text)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from e


def _check_output_target(option: str, target: str | None, overwrite: bool) -> None:
    """Fail before any work when an output file cannot be created, or exists (without
    --overwrite)."""
    if target is None or target == "-":
        return
    from srgan_cli.fileio import check_target

    check_target(Path(target).expanduser(), overwrite=overwrite, kind=f"{option} report")


def _within(a: Path, b: Path) -> bool:
    """`a` is `b` or inside it (paths resolved)."""
    a, b = a.expanduser().resolve(), b.expanduser().resolve()
    return a == b or b in a.parents


def _check_outputs(json_out: str | None, csv_out: str | None, save_images: Path | None,
                   report_dir: Path | None, overwrite: bool) -> None:
    """The output targets that need no model or dataset, checked before any work (UsageError,
    OutputError): an existing one needs --overwrite; no two outputs may overlap."""
    if report_dir is not None and from_env().enabled:
        raise UsageError("--report is written by one process: run it without torchrun")
    if json_out == "-" and csv_out == "-":
        raise UsageError("--json - and --csv - cannot both write to stdout")
    if json_out not in (None, "-") and csv_out not in (None, "-") and (
            Path(json_out).expanduser().resolve() == Path(csv_out).expanduser().resolve()):
        raise UsageError(f"--json and --csv name the same file {show_path(json_out)}")
    _check_output_target("--json", json_out, overwrite)
    _check_output_target("--csv", csv_out, overwrite)
    if save_images is not None and save_images.exists() and not save_images.is_dir():
        raise OutputError(f"--save-images {save_images}: exists and is not a folder")
    if report_dir is not None:
        from srgan_cli.evaluation import report_html
        report_html.check_target(report_dir, overwrite=overwrite)
        if save_images is not None and (_within(save_images, report_dir)
                                        or _within(report_dir, save_images)):
            raise UsageError("--save-images and --report need separate folders")
        for option, target in (("--json", json_out), ("--csv", csv_out)):
            if target not in (None, "-") and _within(Path(target), report_dir):
                raise UsageError(f"{option} {show_path(target)}: inside the --report folder, "
                                 "which is written whole; give another name")


def _check_not_inputs(outputs: dict[str, str | None], datasets: list[BenchmarkDataset],
                      videos: dict[str, list[Path]]) -> None:
    """OutputError when --json or --csv names a file the evaluation reads (a dataset image or
    video): refused even with --overwrite, as upscale never replaces its input."""
    targets = {Path(t).expanduser().resolve(): (o, t) for o, t in outputs.items()
               if t not in (None, "-")}
    if not targets:
        return
    read = [(ds.name, f) for ds in datasets for f in ds.files]
    read += [(name, f) for name, files in videos.items() for f in files]
    for name, f in read:
        hit = targets.get(f.resolve())
        if hit is not None:
            raise OutputError(f"{hit[0]} {show_path(hit[1])}: is a file of the dataset "
                              f"{show_path(name)}; give another name")


def _sr_dir(root: Path, model_name: str, ds_name: str, scale: int) -> Path:
    """Where the SR images of a model on a dataset go: ROOT/<model>/<dataset>_x<scale>."""
    return root / _safe_name(model_name) / f"{_safe_name(ds_name)}_x{scale}"


def _check_sr_targets(root: Path, models: list[ModelDescriptor],
                      datasets: list[BenchmarkDataset], scale: int, *, existing: bool,
                      overwrite: bool) -> None:
    """Before any model runs: no two (model, dataset) pairs share an SR folder (UsageError),
    and with `existing` (--save-images) no SR image to write exists already, without
    --overwrite (OutputError)."""
    from srgan_cli.fileio import check_target

    owners: dict[Path, str] = {}
    for m in models:
        for ds in datasets:
            folder = _sr_dir(root, m.name, ds.name, scale)
            label = f"{m.name} on {ds.name}"
            if folder in owners:
                raise UsageError(f"{owners[folder]} and {label} would save SR images to one "
                                 f"folder {show_path(folder)}; rename a model or dataset")
            owners[folder] = label
            if existing and folder.is_dir():
                for name in ds.names:
                    check_target(folder / f"{name}.png", overwrite=overwrite, kind="SR image")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


def _load_models(specs: list[str], scale: int | None, offline: bool = False
                 ) -> tuple[list[ModelDescriptor], int]:
    """Load every model; the scale is --scale, else the networks' common scale, else 4."""
    import dataclasses

    from srgan_cli.models.bundled import BICUBIC
    from srgan_cli.models.loading import load

    if scale is not None and scale < 1:
        raise UsageError(f"--scale must be a positive integer, got {scale}")
    networks = {s: load(s, scale=scale, no_download=offline) for s in specs
                if s.lower() != BICUBIC}
    if scale is None:
        scales = sorted({m.scale for m in networks.values()})
        if len(scales) > 1:
            listed = ", ".join(f"{m.name} x{m.scale}" for m in networks.values())
            raise UsageError(f"the models have different scales ({listed}): pass --scale")
        scale = scales[0] if scales else 4
    models = [networks[s] if s in networks else load(s, scale=scale) for s in specs]
    seen: dict[str, int] = {}
    for i, m in enumerate(models):  # two files with the same stem: keep the columns apart
        seen[m.name] = seen.get(m.name, 0) + 1
        if seen[m.name] > 1:
            models[i] = dataclasses.replace(m, name=f"{m.name}#{seen[m.name]}")
    return models, scale


def _video_sets(specs: list[str], save_images: Path | None, report_dir: Path | None,
                max_frames: int | None) -> dict[str, list[Path]]:
    """{spec: its videos} for the datasets that are a video or a folder of videos."""
    from srgan_cli.media.discovery import video_set

    if max_frames is not None and max_frames < 1:
        raise UsageError(f"--max-frames must be >= 1, got {max_frames}")

    found = {}
    for spec in dict.fromkeys(specs):
        videos = video_set(spec)
        if videos is not None:
            found[spec] = videos
    if found and (save_images is not None or report_dir is not None):
        raise UsageError("--save-images and --report apply to image datasets, not videos")
    return found


def _score_videos(bar: Any, video_sets: dict[str, list[Path]], models: list[ModelDescriptor],
                  protocol: Any, device: str, max_frames: int | None) -> list[EvalResult]:
    """Each model on each video set (named by its folder, or by its one video)."""
    from srgan_cli.evaluation import scoring
    results = []
    for name, videos in video_sets.items():
        for m in models:
            label = Path(name).name if len(videos) > 1 else videos[0].name
            task = bar.add_task(f"{m.name} {label} x{m.scale}", total=len(videos))
            results.append(scoring.score_videos(
                m, label, videos, protocol, device=device, max_frames=max_frames,
                on_video=partial(_advance, bar, task), shared=True))
            bar.remove_task(task)
    return results


def _advance(bar: Any, task: Any, _score: ImageScore) -> None:
    """Progress after one scored image."""
    bar.advance(task)


def _print_results(results: list[EvalResult], per_image: bool, to_stderr: bool,
                   wide: bool = False) -> None:
    from srgan_cli.cli.console import stderr_console, stdout_console
    from srgan_cli.evaluation import report

    console = stderr_console() if to_stderr else stdout_console()
    header, rows = report.table_rows(results, per_image=per_image, wide=wide)
    if console.is_terminal:
        console.print(report.rich_table(header, rows))
        console.print(report.protocol_line(results), style="dim")
    else:
        console.print(report.text_table(header, rows), end="", markup=False)
        console.print(report.protocol_line(results), markup=False)


def _say(text: str, to_stderr: bool) -> None:
    """A status line ('wrote ...') on stdout, or on stderr when stdout carries --json/--csv -."""
    from srgan_cli.cli.console import is_quiet, say, stderr_console

    if to_stderr and not is_quiet():
        stderr_console().print(text, markup=False, highlight=False)
    elif not to_stderr:
        say(text)


def _print_published(results: list[EvalResult], models: list[ModelDescriptor],
                     to_stderr: bool) -> None:
    """--compare-published: measured vs published, per catalogue model and dataset."""
    from srgan_cli.models import catalogue

    cat = catalogue.catalogue()
    entries = {m.name: cat.get(str(m.card.get("catalogue", ""))) for m in models}
    lines = []
    for r in results:
        entry = entries.get(r.model)
        line = None if entry is None else catalogue.compare_line(
            entry, r.dataset, r.scale, r.mean_psnr, r.mean_ssim)
        lines.append(line or f"{r.model} {r.dataset} x{r.scale}: no published score")
    print("\n".join(lines), file=sys.stderr if to_stderr else sys.stdout, flush=True)


def _check_values(lpips_net: str, crop_border: int | None, tile: int | None) -> None:
    """Usage errors for values no parser checked, before any work."""
    if lpips_net not in ("alex", "vgg"):
        raise UsageError(f"--lpips-net {lpips_net!r}: expected alex or vgg")
    if crop_border is not None and crop_border < 0:
        raise UsageError(f"--crop-border must be >= 0, got {crop_border}")
    check_tiling(tile, None, 1)


def _write_reports(results: list[Any], json_out: str | None, csv_out: str | None,
                   overwrite: bool) -> None:
    """The --json and --csv files (or stdout for '-'), each written whole."""
    from srgan_cli.evaluation import report

    if json_out is None and csv_out is None:
        return
    versions = report.versions()
    if json_out is not None:
        _write_text_atomic(json_out, report.to_json(results, versions), overwrite=overwrite)
    if csv_out is not None:
        _write_text_atomic(csv_out, report.to_csv(results, versions), overwrite=overwrite)


def eval_command(
    model: Models = None,
    dataset: list[str] | None = typer.Option(
        None, "--dataset", "-d", help="set5, set14, b100 (bsd100), urban100, manga109, div2k, "
        "a folder (with HR/ and LR_bicubic/X<s>/, or plain HR images), or a video or folder "
        "of videos (each frame is HR; adds the temporal-consistency figure tPSNR). "
        "Repeatable. (default: set5)", show_default=False, metavar="NAME|DIR|VIDEO",
        autocompletion=complete_dataset),
    data_root: DataRoot = None,
    split: str = typer.Option("valid", "--split", help="DIV2K split: valid (0801-0900) or "
                              "train (0001-0800).", metavar="|".join(DIV2K_SIZES),
                              parser=choice(tuple(DIV2K_SIZES), "--split"),
                              autocompletion=completer(tuple(DIV2K_SIZES))),
    scale: int | None = typer.Option(
        None, "--scale", "-s", help="Upscaling factor (default: the model's, else 4).",
        show_default=False, metavar="N"),
    device: Device = "auto",
    precision: Precision = "fp32",
    tile: Tile = WHOLE_IMAGE,
    crop_border: int | None = typer.Option(
        None, "--crop-border", help="Pixels removed from each edge before scoring "
        "(default: the scale).", show_default=False, metavar="N"),
    rgb: bool = typer.Option(False, "--rgb", help="Score all RGB channels instead of Y."),
    regenerate_lr: bool = typer.Option(
        False, "--regenerate-lr", help="Ignore shipped LR images; make LR from HR with MATLAB "
        "bicubic."),
    per_image: bool = typer.Option(False, "--per-image", help="Show every image's scores."),
    wide: bool = typer.Option(
        False, "--wide", help="One row per dataset with the models side by side (a wide "
        "terminal); default: one row per dataset and model, which fits 80 columns."),
    json_out: str | None = typer.Option(
        None, "--json", help="Write per-image and summary records as JSON to FILE ('-': stdout).",
        metavar="FILE"),
    csv_out: str | None = typer.Option(
        None, "--csv", help="Write per-image and summary rows as CSV to FILE ('-': stdout).",
        metavar="FILE"),
    save_images: Path | None = typer.Option(
        None, "--save-images", help="Write SR images to DIR/<model>/<dataset>_x<scale>/.",
        metavar="DIR"),
    metric: list[str] | None = typer.Option(
        None, "--metric", help="psnr, ssim or lpips; repeat to choose the set shown (default: "
        "psnr and ssim). LPIPS needs torchvision's ImageNet backbone, downloaded on demand.",
        show_default=False, **METRIC_OPTIONS),
    lpips_net: str = typer.Option("alex", "--lpips-net", help="LPIPS backbone: alex or vgg.",
                                  metavar="alex|vgg", parser=choice(("alex", "vgg"), "--lpips-net"),
                                  autocompletion=completer(("alex", "vgg"))),
    offline: Offline = False,
    tta: Tta = False,
    report_dir: Path | None = typer.Option(
        None, "--report", help="Write a visual comparison to DIR (index.html + images, no "
        "network): tables, zoomed crops where the models differ most, before/after slider.",
        metavar="DIR", show_default=False),
    max_frames: int | None = typer.Option(
        None, "--max-frames", help="Videos: score at most the first N frames of each.",
        metavar="N", show_default=False),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace existing --json, --csv, --save-images and --report "
        "outputs."),
    compare_published: bool = typer.Option(
        False, "--compare-published", help="For catalogue models: print beside each measured "
        "score the one the authors publish and the difference (see 'srgan models NAME')."),
) -> None:
    """Score models with PSNR/SSIM (and LPIPS) by the standard SR protocol (Y channel, border =
    scale; fp32 and whole images by default, so that scores compare with published ones).

    Examples:
    srgan eval
    srgan eval -m srresnet_x4 -m bicubic -d set5 -d set14
    srgan eval -m realesrgan-x4plus -d urban100 --metric lpips --compare-published
    srgan eval -m model.safetensors -d my_photos/ --per-image --json scores.json
    srgan eval -d set14 --report report/"""
    from srgan_cli.cli.console import progress
    from srgan_cli.evaluation import report, scoring
    from srgan_cli.models.bundled import default_model_spec

    parse_device(device, "device")
    precision = parse_precision(precision)
    metrics = check_metrics(metric or DEFAULT_METRICS)
    _check_values(lpips_net, crop_border, tile)
    _check_outputs(json_out, csv_out, save_images, report_dir, overwrite)
    ranks = from_env()  # under torchrun the images are shared; rank 0 prints and writes
    video_sets = _video_sets(dataset or ["set5"], save_images, report_dir, max_frames)

    specs = list(dict.fromkeys(model or [default_model_spec()]))
    models, scale = _load_models(specs, scale, offline)
    datasets = scoring.open_datasets([d for d in dataset or ["set5"] if d not in video_sets],
                                     scale, data_root=data_root, split=split,
                                     regenerate_lr=regenerate_lr)
    protocol = scoring.EvalProtocol(crop_border=crop_border, y_channel=not rgb,
                                    precision=precision, tile=tile or WHOLE_IMAGE, metrics=metrics,
                                    lpips_net=lpips_net, tta=tta)
    scoring.check_scorable(datasets, protocol)  # everything checked before any model runs
    _check_not_inputs({"--json": json_out, "--csv": csv_out}, datasets, video_sets)
    if save_images is not None or report_dir is not None:
        _check_sr_targets(save_images or Path("."), models, datasets, scale,
                          existing=save_images is not None, overwrite=overwrite)
    lpips = None
    if "lpips" in metrics:
        from srgan_cli.evaluation.perceptual import load_lpips

        lpips = load_lpips(lpips_net, offline=offline)

    results = []
    with tempfile.TemporaryDirectory(prefix=".srgan-eval-") as tmp:
        sr_root = save_images if save_images is not None or report_dir is None else Path(tmp)

        def sr_dir(model_name: str, ds_name: str) -> Path:
            assert sr_root is not None
            return _sr_dir(sr_root, model_name, ds_name, scale)

        with progress(None if ranks.is_main else False) as bar:
            for ds in datasets:
                for m in models:
                    task = bar.add_task(f"{m.name} {ds.name} x{scale}", total=len(ds))
                    results.append(scoring.score(
                        m, ds, protocol, device=device,
                        save_dir=None if sr_root is None else sr_dir(m.name, ds.name),
                        on_image=partial(_advance, bar, task), lpips=lpips, shared=True,
                    ))
                    bar.remove_task(task)
            results += _score_videos(bar, video_sets, models, protocol, device, max_frames)
        index = None
        if report_dir is not None:
            from srgan_cli.evaluation import report_html
            index = report_html.write(report_dir, results, report_html.items_from_saved(
                datasets, [m.name for m in models], sr_dir, results), overwrite=overwrite)

    if not ranks.is_main:
        return
    stdout_taken = "-" in (json_out, csv_out)
    _print_results(results, per_image, to_stderr=stdout_taken, wide=wide)
    if compare_published:
        _print_published(results, models, to_stderr=stdout_taken)
    if index is not None:
        _say(f"wrote {show_path(index)}", to_stderr=stdout_taken)
    _write_reports(results, json_out, csv_out, overwrite)
    failure = report.failure_message(results)
    if failure is not None:
        raise BatchError(failure, report.failure_exit_code(results))


def register(app: typer.Typer) -> None:
    app.command("eval", help=eval_command.__doc__)(eval_command)
