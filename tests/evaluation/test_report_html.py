"""`srgan eval --report DIR` (report_html): the folder's contents, and the page itself opened in
headless Chromium (skipped with a message where /usr/bin/chromium is absent)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import RunCli, TinyModelFile, tiny_set5
from PIL import Image

from srgan_cli.errors import OutputError
from srgan_cli.evaluation.report_html import disagreement_window

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--hide-scrollbars", "--virtual-time-budget=5000"]

# Appended to a copy of the page: checks every image and table, sorts one column, writes JSON.
CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.getAttribute('src'); });
  var t = document.querySelector('table.per-image');
  t.querySelectorAll('th')[3].click();
  var psnr = Array.from(t.tBodies[0].rows).map(function (r) {
    return parseFloat(r.cells[3].textContent); });
  var out = {images: imgs.length, bad: bad, psnr_sorted: psnr,
    summary_rows: document.querySelectorAll('table.summary tbody tr').length,
    image_rows: t.tBodies[0].rows.length,
    sections: document.querySelectorAll('section.image').length,
    external: Array.from(document.querySelectorAll('[src],[href]')).map(function (e) {
      return e.getAttribute('src') || e.getAttribute('href'); })
      .filter(function (u) { return /^[a-z]+:/i.test(u); })};
  var pre = document.createElement('pre'); pre.id = 'check';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def test_disagreement_window_finds_the_differing_region() -> None:
    a = np.zeros((40, 50, 3), np.uint8)
    b = a.copy()
    b[20:28, 30:38] = 200
    top, left = disagreement_window([a, b, a], 8)
    assert (top, left) == (20, 30)
    assert disagreement_window([a[:5, :5], a[:5, :5]], 8) == (0, 0)  # window larger than image


@pytest.fixture
def data(tmp_path: Path, no_bundled_weights: None) -> Path:
    return tiny_set5(tmp_path / "data", [(48, 56)] * 3)


def _report(run_cli: RunCli, data: Path, model: Path, out: Path) -> str:
    code, stdout, err = run_cli(["eval", "--model", "bicubic", "--model", str(model), "--scale",
                                 "2", "--data-root", str(data), "--report", str(out)])
    assert code == 0, err
    return stdout


@pytest.mark.slow
def test_report_folder(data: Path, tmp_path: Path, run_cli: RunCli,
                       tiny_model_file: TinyModelFile, one_thread: None) -> None:
    model = tiny_model_file(scale=2)
    out = tmp_path / "report"
    stdout = _report(run_cli, data, model, out)
    assert stdout.splitlines()[-1] == f"wrote {out / 'index.html'}"
    page = (out / "index.html").read_text()
    srcs = re.findall(r'(?:src|option value)="([^"]+)"', page)  # slider choices too
    assert srcs and all((out / s).is_file() for s in srcs)  # every image is in the folder
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no network request
    hr = np.asarray(Image.open(data / "Set5" / "HR" / "im0.png"))
    assert np.array_equal(np.asarray(Image.open(out / "images" / "0000" / "2.png")), hr)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    code, _, err = run_cli(["eval", "--model", "bicubic", "--scale", "2", "--data-root",
                            str(data), "--report", str(out)])
    assert code == OutputError.exit_code and f"{out}: exists; use" in err


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason="headless Chromium not installed (apt-get install chromium)")
def test_report_in_headless_chromium(data: Path, tmp_path: Path, run_cli: RunCli,
                                     tiny_model_file: TinyModelFile, one_thread: None) -> None:
    model = tiny_model_file(scale=2)
    out = tmp_path / "report"
    _report(run_cli, data, model, out)
    probe = out / "probe.html"
    probe.write_text((out / "index.html").read_text().replace("</body>", CHECK + "</body>"))
    dom = subprocess.run([CHROMIUM, *CHROME_FLAGS, "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="check">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["bad"] == [] and check["external"] == []
    assert check["images"] == 3 * (3 + 2)  # per image: 3 crops + the slider's before and after
    assert check["summary_rows"] == 1 and check["image_rows"] == 3 * 2
    assert check["sections"] == 3
    assert check["psnr_sorted"] == sorted(check["psnr_sorted"])  # the header click sorted it
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *CHROME_FLAGS, "--window-size=900,900",
                    f"--screenshot={shot}", (out / "index.html").as_uri()],
                   capture_output=True, timeout=120, cwd=tmp_path)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.01  # text and images, not blank


def _two_colour_report(tmp_path: Path) -> Path:
    """A report of one image whose bicubic is black and whose model output is white."""
    from srgan_cli.evaluation.evaluate import EvalResult, ImageScore
    from srgan_cli.evaluation.report_html import ReportImage, write

    black, white = np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)
    item = ReportImage("Set5", 2, "im0", np.full((64, 64, 3), 128, np.uint8),
                       np.zeros((32, 32, 3), np.uint8), {"bicubic": black, "m": white})
    results = [EvalResult(m, "Set5", 2, 2, True, [ImageScore("im0", 30.0, 0.9, 0.1)], 30.0,
                          0.9, 0.1) for m in ("bicubic", "m")]
    return write(tmp_path / "report", results, [item])


def test_report_tables_align_headers_with_their_columns(tmp_path: Path) -> None:
    page = _two_colour_report(tmp_path).read_text()
    per_image = page[page.index('<table class="sortable per-image">'):]
    per_image = per_image[:per_image.index("</table>")]
    heads = re.findall(r"<th( class=\"l\")?>([^<]*)</th>", per_image)
    assert [(h, bool(c)) for c, h in heads] == [("dataset", True), ("image", True),
                                                ("model", True), ("PSNR", False),
                                                ("SSIM", False)]
    first_row = re.findall(r"<td( class=\"l\")?>", per_image)[:5]
    assert [bool(c) for c in first_row] == [True, True, True, False, False]
    assert "Before (bicubic, left)" in page and '<span class="tag left">bicubic</span>' in page


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason="headless Chromium not installed (apt-get install chromium)")
def test_slider_left_half_is_what_its_label_says(tmp_path: Path) -> None:
    """The label says bicubic (black here) is on the left; the model (white) on the right."""
    index = _two_colour_report(tmp_path)
    probe = index.parent / "probe.html"
    only_slider = ("<style>body *{visibility:hidden}.slider,.slider *{visibility:visible}"
                   ".slider{position:fixed;top:0;left:0;width:400px}.tag{display:none}</style>")
    probe.write_text(index.read_text().replace("</head>", only_slider + "</head>"))
    shot = tmp_path / "slider.png"
    subprocess.run([CHROMIUM, *CHROME_FLAGS, "--window-size=600,600", f"--screenshot={shot}",
                    probe.as_uri()], capture_output=True, timeout=120, cwd=tmp_path)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels[200, 100] < 30, "the left half is not bicubic"
    assert pixels[200, 300] > 225, "the right half is not the model"
    assert pixels[200, 199] > 225 and pixels[200, 190] < 30  # the white divider at 50%


def test_report_never_shows_an_sr_file_of_a_failed_image(data: Path, tmp_path: Path) -> None:
    from srgan_cli.evaluation.datasets import open_dataset
    from srgan_cli.evaluation.evaluate import EvalResult, ImageScore
    from srgan_cli.evaluation.report_html import items_from_saved

    ds = open_dataset("set5", 2, data_root=data)
    sr = tmp_path / "sr"
    sr.mkdir()
    for name in ds.names:  # an earlier run's images, im1 among them
        Image.new("RGB", (56, 48)).save(sr / f"{name}.png")
    scores = [ImageScore("im0", 30.0, 0.9, 0.1), ImageScore("im1", np.nan, np.nan, 0.1, "boom"),
              ImageScore("im2", 31.0, 0.9, 0.1)]
    results = [EvalResult("m", ds.name, 2, 2, True, scores)]
    items = list(items_from_saved([ds], ["m"], lambda m, d: sr, results))
    assert [(it.name, it.sr["m"] is None) for it in items] == [
        ("im0", False), ("im1", True), ("im2", False)]
