"""The catalogue in `srgan models`: the list (with filters), one model's card, and the actions
`pull` (fetch ahead, for offline machines and CI caches), `rm` (free the cache) and `verify`
(download each file from its URLs and check its size and SHA-256, where the network exists).

Torch-free, like the rest of `srgan models`."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srgan_cli.errors import ModelError, SrganError, UsageError
from srgan_cli.models import catalogue
from srgan_cli.models.catalogue import Entry


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def filtered(scale: int | None, purpose: str | None) -> list[Entry]:
    """The catalogue's entries of `scale` and for `purpose` (None: any)."""
    if purpose is not None and purpose.strip().lower() not in catalogue.PURPOSES:
        raise UsageError(f"--purpose {purpose!r}: expected {', '.join(catalogue.PURPOSES)}")
    if scale is not None and scale < 1:
        raise UsageError(f"--scale must be a positive integer, got {scale}")
    want = None if purpose is None else purpose.strip().lower()
    return [e for e in catalogue.catalogue()
            if (scale is None or e.scale == scale) and (want is None or want in e.purpose)]


def catalogue_json(entries: list[Entry]) -> dict[str, Any]:
    return {"model_cache": str(catalogue.cached_path(entries[0]).parent) if entries else None,
            "catalogue": [{**e.as_json(), "cached": catalogue.is_cached(e)} for e in entries]}


def _row(e: Entry) -> list[str]:
    return [e.name, f"x{e.scale}", e.architecture, ", ".join(e.purpose), _mb(e.bytes),
            e.license, "yes" if catalogue.is_cached(e) else "-"]


def print_list(entries: list[Entry], console: Any) -> None:
    """The catalogue as a table on a terminal, plain lines otherwise."""
    from rich.table import Table
    from rich.text import Text

    from srgan_cli.options import model_cache_dir

    title = f"catalogue: fetched by name on first use into {model_cache_dir()}"
    if not entries:
        console.print("no catalogue model matches", markup=False)
        return
    header = ["name", "scale", "architecture", "purpose", "size", "licence", "cached"]
    if console.is_terminal:
        table = Table(*header, title=title)
        for e in entries:
            table.add_row(*(Text(c) for c in _row(e)))
        console.print(table)
        return
    console.print(title + ":", markup=False)
    for e in entries:
        console.print("  " + "  ".join(_row(e)), markup=False)


def card_lines(e: Entry) -> list[str]:
    """`srgan models NAME` for a catalogue model: every fact, published and measured scores
    apart, and where the file is (or goes)."""
    path = catalogue.cached_path(e)
    lines = [
        f"model:        {e.name}" + (f" ({e.title})" if e.title else ""),
        f"aliases:      {', '.join(e.aliases) or '-'}",
        f"architecture: {e.architecture}" + (f" ({e.variant})" if e.variant else ""),
        f"scale:        x{e.scale}",
        f"purpose:      {', '.join(e.purpose)}",
        f"licence:      {e.license}",
        f"author:       {e.author}" + (f", {e.date}" if e.date else ""),
    ]
    if e.description:
        lines.append(f"description:  {e.description}")
    lines += [f"file:         {e.file}, {e.bytes:,} bytes, sha256 {e.sha256}"]
    lines += [f"url:          {u}" for u in catalogue.urls(e)]
    lines.append(f"cache:        {path} (" + ("cached" if catalogue.is_cached(e) else
                 f"not cached: fetched on first use, or by 'srgan models pull {e.name}'") + ")")
    if e.denoise_twin:
        lines.append(f"denoise twin: {e.denoise_twin} (--denoise-strength 0..1 blends the two)")
    lines.append(f"facts from:   {e.source}")
    for s in e.scores:
        kind = "measured by srgan-cli" if s.measured else "published"
        figures = ", ".join(f for f in (
            None if s.psnr is None else f"PSNR {s.psnr:.2f} dB",
            None if s.ssim is None else f"SSIM {s.ssim:.4f}") if f)
        lines.append(f"{kind}: {s.dataset} x{e.scale}: {figures} ({s.protocol}; {s.source})")
    if not e.scores:
        lines.append("scores:       none published by the authors for bicubic benchmarks")
    return lines


def print_card(e: Entry, *, json_out: bool) -> None:
    if json_out:
        doc = {**e.as_json(), "cached": catalogue.is_cached(e),
               "path": str(catalogue.cached_path(e))}
        print(json.dumps(doc, indent=2))
        return
    for line in card_lines(e):
        print(line)


def _entries(names: list[str], action: str, *, all_models: bool = False) -> list[Entry]:
    if all_models:
        if names:
            raise UsageError(f"srgan models {action}: give NAMEs or --all, not both")
        return list(catalogue.catalogue())
    if not names:
        raise UsageError(f"srgan models {action}: give one or more catalogue names"
                         + (" (or --all)" if action == "verify" else ""))
    cat = catalogue.catalogue()
    found = []
    for n in dict.fromkeys(names):
        e = cat.get(n)
        if e is None:
            raise ModelError(f"unknown catalogue model {n!r} (see 'srgan models')")
        found.append(e)
    return found


def pull(names: list[str], *, all_models: bool, offline: bool, json_out: bool) -> None:
    """Fetch each model into the cache (a cached one is checked, not fetched again)."""
    for e in _entries(names, "pull", all_models=all_models):
        path = catalogue.fetch(e, no_download=offline)
        print(f"{e.name}: {path} ({_mb(e.bytes)}, sha256 checked)", flush=True)


def remove(names: list[str], *, all_models: bool, offline: bool, json_out: bool) -> None:
    """Delete each model's cached file (and any partial download)."""
    for e in _entries(names, "rm", all_models=all_models):
        removed = catalogue.remove(e)
        print(f"removed {', '.join(map(str, removed))}" if removed
              else f"{e.name}: not cached", flush=True)


def verify(names: list[str], *, all_models: bool, offline: bool, json_out: bool) -> None:
    """Download each model from each of its URLs into a temp folder and check its size and
    SHA-256 (the real check of the catalogue, where the network exists); a cached file is
    checked too. ModelError (exit 5) when any fails."""
    from srgan_cli.models import download
    from srgan_cli.options import offline as is_offline

    entries = _entries(names, "verify", all_models=all_models)
    if is_offline(offline):
        raise ModelError("srgan models verify downloads every file: downloads are off "
                         "(--offline or SRGAN_OFFLINE)")
    failed = 0
    with tempfile.TemporaryDirectory(prefix=".srgan-verify-") as tmp:
        for e in entries:
            problems = []
            for url in catalogue.urls(e):
                d = download.Download(e.name, (url,), Path(tmp) / e.file, e.sha256, e.bytes)
                try:
                    download.fetch(d, error=ModelError, head=f"{e.name}: {url}", offline=False,
                                   quiet=True)
                except SrganError as err:
                    problems.append(str(err))
                finally:
                    d.target.unlink(missing_ok=True)
            cached = catalogue.cached_path(e)
            if cached.is_file():
                try:
                    download.check(d, cached)
                except Exception as err:  # download._Corrupt: the cached copy is damaged
                    problems.append(f"{e.name}: the cached {cached} is corrupt ({err})")
            failed += bool(problems)
            print(f"{e.name}: ok ({len(catalogue.urls(e))} URL(s), size and sha256 match)"
                  if not problems else f"{e.name}: FAILED: {'; '.join(problems)}", flush=True)
    if failed:
        raise ModelError(f"{failed} of {len(entries)} catalogue models failed verification")


ACTIONS: dict[str, Callable[..., None]] = {"pull": pull, "rm": remove, "verify": verify}
