"""`srgan eval --report DIR`: a self-contained visual comparison (index.html + PNG images).

The page makes no network request (inline CSS and JS, images as relative files) and holds: the
summary table, a sortable per-image table, and for each image the crops of bicubic | each model |
HR side by side at the window where the models disagree most, plus a before/after slider on the
full image. The folder is built under a temporary name and renamed into place when complete;
with `overwrite` it replaces an earlier report (a folder of index.html and images/ only), never
a folder holding anything else."""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srgan_cli.errors import OutputError
from srgan_cli.evaluation import report
from srgan_cli.evaluation.datasets import BenchmarkDataset, Sample
from srgan_cli.evaluation.evaluate import EvalResult, as_rgb
from srgan_cli.media.decode import read_uint8
from srgan_cli.media.encode import write_png
from srgan_cli.media.resize import imresize
from srgan_cli.messages import option

CROP = 48  # HR pixels of the zoomed window (shown 4x, nearest neighbour)
BICUBIC = "bicubic"
HR = "HR"


@dataclass(frozen=True)
class ReportImage:
    """One benchmark image: HR, LR and each model's SR (None where the model failed on it)."""

    dataset: str
    scale: int
    name: str
    hr: np.ndarray
    lr: np.ndarray
    sr: Mapping[str, np.ndarray | None]  # model name -> SR as scored


_REPORT_FILES = frozenset({"index.html", "images"})


def _is_report(folder: Path) -> bool:
    """`folder` holds an earlier report and nothing else: index.html and images/."""
    names = {p.name for p in folder.iterdir()}
    return "index.html" in names and names <= _REPORT_FILES


def check_target(folder: Path, *, overwrite: bool = False) -> Path:
    """OutputError before any work when `folder` cannot be made, or exists and is not empty
    (with `overwrite`, unless it holds an earlier report and nothing else)."""
    folder = Path(folder).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        if not folder.is_dir() or not _is_report(folder):
            raise OutputError(f"{option('report_dir')} {folder}: exists and is not an empty "
                              "folder")
        if not overwrite:
            raise OutputError(f"{option('report_dir')} {folder}: exists; use {option('overwrite')}")
    if not folder.parent.is_dir():
        raise OutputError(f"{option('report_dir')} {folder}: folder {folder.parent} does not "
                          "exist")
    if not os.access(folder.parent, os.W_OK):
        raise OutputError(f"{option('report_dir')} {folder}: folder {folder.parent} is not "
                          "writable")
    return folder


def _gray(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float32)
    return img.mean(axis=2) if img.ndim == 3 else img


def disagreement_window(images: Sequence[np.ndarray], size: int) -> tuple[int, int]:
    """(top, left) of the size x size window where the images differ most: the largest sum of
    the per-pixel range (max - min over the images) of their gray values. Pure numpy."""
    stack = np.stack([_gray(i) for i in images])
    spread = (stack.max(axis=0) - stack.min(axis=0)).astype(np.float64)
    h, w = spread.shape
    size = min(size, h, w)
    ii = np.pad(spread.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left)


def _save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, img)


def _fmt(metric: str, x: float) -> str:
    return {"psnr": report.fmt_psnr, "ssim": report.fmt_ssim, "lpips": report.fmt_lpips}[
        metric](x)


# f-strings with html.escape, not jinja2: one small page, and jinja2 is torch's dependency,
# not ours; every value goes through html.escape (tests/evaluation check the page).
def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str) -> str:
    """An HTML table whose label columns (`report.label_columns`), header included, are
    left-aligned and the numbers right-aligned."""
    n_left = report.label_columns(header)

    def cell(tag: str, i: int, text: str) -> str:
        align = ' class="l"' if i < n_left else ""
        return f"<{tag}{align}>{html.escape(str(text))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def per_image_rows(results: Sequence[EvalResult]) -> tuple[list[str], list[list[str]]]:
    """Header and one row per (dataset, image, model): the per-image table of the page."""
    metrics = list(dict.fromkeys(m for r in results for m in r.metrics))
    header = ["dataset", "image", "model", *(m.upper() for m in metrics)]
    rows = []
    for r in results:
        for s in r.images:
            values = {"psnr": s.psnr, "ssim": s.ssim, "lpips": s.lpips}
            cells = [_fmt(m, values[m]) if s.ok else "failed" for m in metrics]
            rows.append([f"{r.dataset} x{r.scale}", s.name, r.model, *cells])
    return header, rows


_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em auto;padding:0 1.5em;max-width:1400px;
color:#222;background:#fafafa}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th.l,td.l{text-align:left}
table.sortable th{cursor:pointer;background:#eee}
.crops{display:flex;flex-wrap:wrap;gap:6px}
figure{margin:0;text-align:center}
figure img{width:256px;height:256px;image-rendering:pixelated;border:1px solid #999}
figcaption{font-size:12px}
.slider{max-width:100%;width:1024px}
.slider .frame{position:relative;line-height:0}
.slider img{display:block;width:100%;image-rendering:pixelated}
.slider img.before{position:absolute;top:0;left:0;height:100%;clip-path:inset(0 50% 0 0)}
.slider .divider{position:absolute;top:0;bottom:0;left:50%;width:2px;margin-left:-1px;
background:#fff;box-shadow:0 0 0 1px rgba(0,0,0,.5)}
.slider .tag{position:absolute;top:6px;padding:2px 6px;font-size:12px;line-height:1.4;
background:rgba(0,0,0,.6);color:#fff;border-radius:3px}
.slider .tag.left{left:6px}
.slider .tag.right{right:6px}
.slider input{width:100%}
section{margin-bottom:2em}
"""

# The slider: the model's image ("after") fills the frame; bicubic ("before") lies over it,
# clipped to the left of the divider (where the range input says), as its label says.
_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var b=t.tBodies[0],rows=Array.from(b.rows),asc=th.dataset.asc!=='1';
      th.dataset.asc=asc?'1':'0';
      rows.sort(function(x,y){
        var a=x.cells[i].textContent,c=y.cells[i].textContent,p=parseFloat(a),q=parseFloat(c);
        var r=(isNaN(p)||isNaN(q))?a.localeCompare(c):p-q;return asc?r:-r;});
      rows.forEach(function(r){b.appendChild(r);});});});});
document.querySelectorAll('.slider').forEach(function(s){
  var before=s.querySelector('img.before'),after=s.querySelector('img.after');
  var line=s.querySelector('.divider'),input=s.querySelector('input');
  var tag=s.querySelector('.tag.right');
  function move(){before.style.clipPath='inset(0 '+(100-input.value)+'% 0 0)';
    line.style.left=input.value+'%';}
  input.addEventListener('input',move);move();
  var pick=s.parentNode.querySelector('select');
  if(pick){pick.addEventListener('change',function(){
    after.src=pick.value;tag.textContent=pick.options[pick.selectedIndex].text;});}
});
"""


def _image_section(item: ReportImage, key: str, folder: Path) -> str:
    """Write one image's files under images/<key>/ and return its HTML section."""
    rel = f"images/{key}"
    out = folder / rel
    hr = item.hr
    bicubic = item.sr.get(BICUBIC)
    if bicubic is None:
        bicubic = imresize(as_rgb(item.lr), item.scale)
        if hr.ndim == 2:
            bicubic = bicubic.mean(axis=2).round().astype(np.uint8)
    shown: list[tuple[str, np.ndarray]] = [(BICUBIC, bicubic)]
    shown += [(m, sr) for m, sr in item.sr.items() if m != BICUBIC and sr is not None]
    top, left = disagreement_window([a for _, a in shown], CROP)
    size = min(CROP, *hr.shape[:2])
    figures, options = [], []
    for i, (label, img) in enumerate([*shown, (HR, hr)]):
        _save(img, out / f"{i}.png")
        _save(img[top:top + size, left:left + size], out / f"crop{i}.png")
        figures.append(f'<figure><img src="{rel}/crop{i}.png" alt="{html.escape(label)} crop">'
                       f"<figcaption>{html.escape(label)}</figcaption></figure>")
        if i:
            options.append(f'<option value="{rel}/{i}.png">{html.escape(label)}</option>')
    title = f"{item.dataset} x{item.scale} / {item.name}"
    return (
        f'<section class="image"><h3>{html.escape(title)}</h3>'
        f"<p>Crop at ({left}, {top}), {size}x{size} px, where the models differ most.</p>"
        f'<div class="crops">{"".join(figures)}</div>'
        f"<p>Before (bicubic, left) / after (right): <select>{''.join(options)}</select></p>"
        f'<div class="slider"><div class="frame">'
        f'<img class="after" src="{rel}/1.png" alt="after">'
        f'<img class="before" src="{rel}/0.png" alt="bicubic"><div class="divider"></div>'
        f'<span class="tag left">{BICUBIC}</span>'
        f'<span class="tag right">{html.escape(shown[1][0] if len(shown) > 1 else HR)}</span>'
        f'</div><input type="range" min="0" max="100" value="50" aria-label="before/after">'
        "</div></section>"
    )


def write(folder: Path, results: Sequence[EvalResult], items: Iterable[ReportImage], *,
          overwrite: bool = False) -> Path:
    """Write the report into `folder` (which must not exist, or be empty, or with `overwrite`
    hold an earlier report); return index.html.

    The folder appears complete or not at all; an earlier report is replaced whole."""
    folder = check_target(Path(folder), overwrite=overwrite)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        header, rows = report.table_rows(results)
        ih, irows = per_image_rows(results)
        sections = [_image_section(it, f"{n:04d}", tmp) for n, it in enumerate(items)]
        page = (
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            "<title>srgan eval report</title>"
            f"<style>{_CSS}</style></head><body><h1>srgan eval report</h1>"
            f"<h2>Summary</h2>{_table(header, rows, 'summary')}"
            f"<p>{html.escape(report.protocol_line(results))}</p>"
            f"<h2>Per image</h2><p>Click a column to sort.</p>"
            f"{_table(ih, irows, 'sortable per-image')}"
            f"<h2>Comparisons</h2>{''.join(sections)}"
            f"<script type=\"application/json\" id=\"data\">"
            f"{json.dumps(report.summary_records(results), allow_nan=False)}</script>"
            f"<script>{_JS}</script></body></html>\n"
        )
        (tmp / "index.html").write_text(page, encoding="utf-8")
        tmp.chmod(0o755)
        _publish(tmp, folder, overwrite)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{option('report_dir')} {folder}: cannot write "
                          f"({e.strerror or e})") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder / "index.html"


def _publish(tmp: Path, folder: Path, overwrite: bool) -> None:
    """Rename the complete `tmp` to `folder`: an empty `folder` is removed first, an earlier
    report (with `overwrite`) is moved aside, then deleted once the new one is in place."""
    if not folder.exists():
        os.rename(tmp, folder)
        return
    if not any(folder.iterdir()):
        folder.rmdir()
        os.rename(tmp, folder)
        return
    check_target(folder, overwrite=overwrite)  # filled meanwhile: an earlier report at most
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
    os.rename(folder, old)  # onto the empty temp folder
    try:
        os.rename(tmp, folder)
    except OSError:
        os.rename(old, folder)  # the earlier report back in place
        raise
    shutil.rmtree(old, ignore_errors=True)


def items_from_saved(
    datasets: Sequence[BenchmarkDataset], models: Sequence[str],
    sr_dir: Callable[[str, str], Path], results: Sequence[EvalResult] | None = None,
) -> Iterator[ReportImage]:
    """The report's images: each dataset sample's HR and LR, with the SR that each model wrote
    to ``sr_dir(model, dataset)/<name>.png`` while scored (None where it failed: with
    `results`, a failed image's file is never read, even one an earlier run left there)."""
    scored = None if results is None else {
        (r.model, r.dataset, s.name) for r in results for s in r.images if s.ok}
    for ds in datasets:
        for sample in ds.load_all():
            if not isinstance(sample, Sample):
                continue
            sr: dict[str, np.ndarray | None] = {}
            for m in models:
                path = sr_dir(m, ds.name) / f"{sample.name}.png"
                ok = scored is None or (m, ds.name, sample.name) in scored
                sr[m] = read_uint8(path, keep_gray=True) if ok and path.is_file() else None
            yield ReportImage(ds.name, ds.scale, sample.name, sample.hr, sample.lr, sr)
