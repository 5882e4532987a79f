"""Formatting of evaluation results: side-by-side table, JSON and CSV (pure functions).

Infinite PSNR (SR identical to HR) and NaN (failed image) are written as JSON ``null`` / empty CSV
cells, with ``psnr_infinite`` saying which null means infinity.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from rich.table import Table

from srgan_cli.errors import EXIT_MIXED
from srgan_cli.evaluation.evaluate import EvalResult, ImageScore
from srgan_cli.evaluation.metrics import protocol
from srgan_cli.messages import option, render
from srgan_cli.version import __version__

REPORT_FORMAT = "srgan-cli-eval/1"
_PACKAGES = {"torch": "torch", "numpy": "numpy", "scikit-image": "scikit-image"}


def versions() -> dict[str, str]:
    """Versions of srgan-cli and of the libraries the numbers depend on."""
    out = {"srgan-cli": __version__}
    for key, dist in _PACKAGES.items():
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "not installed"
    return out


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _optional(x: float | None) -> float | None:
    return None if x is None else _finite(x)


def _image_record(r: EvalResult, s: ImageScore) -> dict[str, Any]:
    rec = {
        "model": r.model, "dataset": r.dataset, "scale": r.scale, "image": s.name,
        "psnr": _finite(s.psnr), "psnr_infinite": s.ok and math.isinf(s.psnr),
        "ssim": _finite(s.ssim), "lpips": _finite(s.lpips), "seconds": _finite(s.seconds),
        "error": s.error,
    }
    if r.videos:  # image datasets' records stay as they were
        rec.update(frames=s.frames, temporal_psnr=_optional(s.temporal_psnr))
    return rec


def image_records(results: Sequence[EvalResult]) -> list[dict[str, Any]]:
    """One record per image per result."""
    return [_image_record(r, s) for r in results for s in r.images]


def _summary_record(r: EvalResult, rec: dict[str, Any]) -> dict[str, Any]:
    """`rec` plus, for videos, the mean temporal PSNR and the frames scored."""
    if r.videos:
        rec.update(temporal_psnr=_optional(r.temporal_psnr),
                   frames=sum(s.frames or 0 for s in r.images))
    return rec


def summary_records(results: Sequence[EvalResult]) -> list[dict[str, Any]]:
    """One record per (model, dataset): means, counts and the protocol."""
    return [
        _summary_record(r, {
            "model": r.model, "dataset": r.dataset, "scale": r.scale, "images": len(r.images),
            "images_found": r.images_found, "images_expected": r.images_expected,
            "partial": r.partial, "failed": len(r.failed), "mean_psnr": _finite(r.mean_psnr),
            "psnr_infinite": r.psnr_infinite, "mean_ssim": _finite(r.mean_ssim),
            "mean_lpips": _finite(r.mean_lpips), "seconds_per_image": _finite(r.seconds),
            "metrics": list(r.metrics), "lpips_net": r.lpips_net or None, "tta": r.tta,
            "protocol": protocol(r.crop_border, r.y_channel),
        })
        for r in results
    ]


def to_json(results: Sequence[EvalResult], versions: dict[str, str]) -> str:
    """The full report as JSON text (strict JSON: no NaN/Infinity literals)."""
    doc = {
        "format": REPORT_FORMAT,
        "versions": versions,
        "summary": summary_records(results),
        "images": image_records(results),
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


CSV_FIELDS = (
    "record", "model", "dataset", "scale", "image", "psnr", "psnr_infinite", "ssim", "seconds",
    "images", "failed", "error", "y_channel", "crop_border", "ssim_window", "ssim_sigma",
    "ssim_k1", "ssim_k2", "srgan_cli", "torch", "numpy", "scikit_image",
    "images_found", "images_expected", "partial", "lpips", "lpips_net",
)
VIDEO_CSV_FIELDS = ("frames", "temporal_psnr")  # added when a dataset is videos


def _video_cells(s: ImageScore | EvalResult) -> dict[str, Any]:
    if isinstance(s, EvalResult):
        frames: int | None = sum(x.frames or 0 for x in s.images)
    else:
        frames = s.frames
    t = s.temporal_psnr
    return {"frames": "" if frames is None else frames,
            "temporal_psnr": "" if t is None else _cell(t)}


def _csv_common(r: EvalResult, versions: dict[str, str]) -> dict[str, Any]:
    p = protocol(r.crop_border, r.y_channel)
    return {
        "model": r.model, "dataset": r.dataset, "scale": r.scale, "y_channel": r.y_channel,
        "crop_border": r.crop_border, "ssim_window": p["ssim"]["size"],
        "ssim_sigma": p["ssim"]["sigma"], "ssim_k1": p["ssim"]["k1"], "ssim_k2": p["ssim"]["k2"],
        "srgan_cli": versions.get("srgan-cli", ""), "torch": versions.get("torch", ""),
        "numpy": versions.get("numpy", ""), "scikit_image": versions.get("scikit-image", ""),
        "lpips_net": r.lpips_net,
    }


def _cell(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else ""


def to_csv(results: Sequence[EvalResult], versions: dict[str, str]) -> str:
    """Per-image rows (record=image) then per-result rows (record=summary), one header."""
    buf = io.StringIO()
    videos = any(r.videos for r in results)
    fields = CSV_FIELDS + VIDEO_CSV_FIELDS if videos else CSV_FIELDS
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in results:
        common = _csv_common(r, versions)
        for s in r.images:
            writer.writerow({
                **common, "record": "image", "image": s.name, "psnr": _cell(s.psnr),
                "psnr_infinite": s.ok and math.isinf(s.psnr), "ssim": _cell(s.ssim),
                "seconds": _cell(s.seconds), "error": s.error or "", "lpips": _cell(s.lpips),
                **(_video_cells(s) if r.videos else {}),
            })
    for r in results:
        writer.writerow({
            **(_video_cells(r) if r.videos else {}),
            **_csv_common(r, versions), "record": "summary", "psnr": _cell(r.mean_psnr),
            "psnr_infinite": r.psnr_infinite, "ssim": _cell(r.mean_ssim),
            "seconds": _cell(r.seconds), "images": len(r.images), "failed": len(r.failed),
            "images_found": r.images_found, "images_expected": r.images_expected or "",
            "partial": r.partial, "lpips": _cell(r.mean_lpips),
        })
    return buf.getvalue()


def fmt_psnr(x: float) -> str:
    if math.isnan(x):
        return "-"
    return "inf" if math.isinf(x) else f"{x:.2f}"


def fmt_ssim(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.4f}"


def fmt_lpips(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.4f}"


_COLUMNS = {"psnr": ("PSNR", fmt_psnr), "ssim": ("SSIM", fmt_ssim),
            "lpips": ("LPIPS", fmt_lpips)}


def _cells(metrics: Sequence[str], x: ImageScore | EvalResult | None) -> list[str]:
    """The metric cells then seconds of one image (or of a result's means)."""
    if x is None:
        return ["-"] * (len(metrics) + 1)
    if isinstance(x, ImageScore):
        if not x.ok:
            return ["failed"] * len(metrics) + [fmt_seconds(x.seconds)]
        values = {"psnr": x.psnr, "ssim": x.ssim, "lpips": x.lpips}
    else:
        values = {"psnr": x.mean_psnr, "ssim": x.mean_ssim, "lpips": x.mean_lpips}
    return [_COLUMNS[m][1](values[m]) for m in metrics] + [fmt_seconds(x.seconds)]


def fmt_seconds(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def table_rows(
    results: Sequence[EvalResult], per_image: bool = False, *, wide: bool = True
) -> tuple[list[str], list[list[str]]]:
    """Header and rows. Wide: one row per dataset (or per image plus a mean row), models side by
    side; else one row per (dataset, model) (`long_rows`), which fits 80 columns.

    Each model has a column per metric asked for (PSNR and SSIM by default, LPIPS) and seconds
    per image; a failed image shows "failed". When a dataset is videos, each model also has a
    tPSNR column (temporal consistency; "-" for image datasets), and a video is one "image"
    (its frame means)."""
    models = list(dict.fromkeys(r.model for r in results))
    datasets = list(dict.fromkeys((r.dataset, r.scale) for r in results))
    by_key = {(r.model, r.dataset, r.scale): r for r in results}
    metrics = list(dict.fromkeys(m for r in results for m in r.metrics))
    temporal = any(r.videos for r in results)
    if not wide:
        return long_rows(results, per_image, metrics, temporal)
    header = ["dataset"] + (["image"] if per_image else [])
    for m in models:
        header += [f"{m} {_COLUMNS[k][0]}" for k in metrics] + [f"{m} s/img"]
        header += [f"{m} tPSNR"] if temporal else []
    rows: list[list[str]] = []
    for ds, scale in datasets:
        found = [by_key.get((m, ds, scale)) for m in models]
        label = dataset_label(ds, scale, [r for r in found if r is not None])
        if per_image:
            names = list(dict.fromkeys(s.name for r in found if r for s in r.images))
            for name in names:
                row = [label, name]
                for r in found:
                    score = next((s for s in r.images if s.name == name), None) if r else None
                    row += _cells(metrics, score)
                    if temporal:
                        row.append(fmt_tpsnr(None if score is None else score.temporal_psnr))
                rows.append(row)
        row = [label] + (["mean"] if per_image else [])
        for r in found:
            row += _cells(metrics, r)
            if temporal:
                row.append(fmt_tpsnr(None if r is None else r.temporal_psnr))
        rows.append(row)
    return header, rows


def long_rows(results: Sequence[EvalResult], per_image: bool, metrics: Sequence[str],
              temporal: bool) -> tuple[list[str], list[list[str]]]:
    """One row per (dataset, model), in the order scored (per image: each image, then the
    mean): dataset, model, [image,] a column per metric, s/img[, tPSNR]."""
    header = ["dataset", "model"] + (["image"] if per_image else [])
    header += [_COLUMNS[k][0] for k in metrics] + ["s/img"] + (["tPSNR"] if temporal else [])
    rows: list[list[str]] = []
    for r in results:
        label = dataset_label(r.dataset, r.scale, [x for x in results if (x.dataset, x.scale)
                                                   == (r.dataset, r.scale)])
        scores: list[tuple[str, ImageScore | EvalResult]] = [
            (s.name, s) for s in r.images] if per_image else []
        for name, x in [*scores, ("mean", r)]:
            row = [label, r.model] + ([name] if per_image else []) + _cells(metrics, x)
            if temporal:
                row.append(fmt_tpsnr(x.temporal_psnr))
            rows.append(row)
    return header, rows


def fmt_tpsnr(x: float | None) -> str:
    """The temporal PSNR cell: "-" for an image dataset or a one-frame video."""
    return "-" if x is None else fmt_psnr(x)


def dataset_label(name: str, scale: int, results: Sequence[EvalResult]) -> str:
    """"Set5 x4", or for a known set with images missing "DIV2K-train x2 (1 of 800 images:
    partial)", so that a partial set never passes for the standard number."""
    partial = [r for r in results if r.partial]
    if not partial:
        return f"{name} x{scale}"
    r = min(partial, key=lambda x: x.images_found)
    of = f" of {r.images_expected}" if r.images_expected is not None else ""
    return f"{name} x{scale} ({r.images_found}{of} images: partial)"


def label_columns(header: Sequence[str]) -> int:
    """Label columns (dataset, model, image) are left-aligned, numbers right-aligned."""
    labels = ("dataset", "model", "image")
    return next((i for i, h in enumerate(header) if h not in labels), len(header))


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table (no box drawing), for pipes and files."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    n_left = label_columns(header)

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i < n_left else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)]) + "\n"


def rich_table(header: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> Table:
    """The same table for a terminal."""
    table = Table(title=title or None)
    n_left = label_columns(header)
    for i, name in enumerate(header):  # a long label wraps; a number never does
        table.add_column(name, justify="left" if i < n_left else "right",
                         no_wrap=i >= n_left, overflow="fold")
    for r in rows:
        table.add_row(*r)
    return table


def failure_message(results: Sequence[EvalResult], limit: int = 3) -> str | None:
    """One line naming the failed images (None when all succeeded)."""
    failed = [(r, s) for r in results for s in r.failed]
    if not failed:
        return None
    shown = "; ".join(f"{r.model}/{r.dataset}/{s.name}: {s.error}" for r, s in failed[:limit])
    more = f"; and {len(failed) - limit} more" if len(failed) > limit else ""
    noun = "image" if len(failed) == 1 else "images"
    return f"{len(failed)} {noun} failed: {shown}{more}"


def failure_exit_code(results: Sequence[EvalResult]) -> int:
    """The exit code of the failed images: their errors' common code (3 when every one is an
    image that does not decode), else EXIT_MIXED; 0 when none failed."""
    codes = {s.error_code for r in results for s in r.failed}
    if not codes:
        return 0
    return codes.pop() if len(codes) == 1 else EXIT_MIXED


def protocol_line(results: Sequence[EvalResult]) -> str:
    """A short description of how the numbers were computed, printed under the table."""
    if not results:
        return ""
    r = results[0]
    channel = "Y (BT.601)" if r.y_channel else "RGB"
    lpips = (f"; LPIPS v0.1 ({r.lpips_net}) on RGB in [-1, 1], same border, lower is better"
             if r.lpips_net else "")
    tta = render(f"; models run as x8 self-ensembles ({option('tta')})") if r.tta else ""
    return (f"PSNR/SSIM on {channel}, {r.crop_border} px border cropped, SSIM Gaussian 11x11 "
            f"sigma 1.5{lpips}{tta}; seconds = model time per image")
