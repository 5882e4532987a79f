"""datasets.py on small layouts built in tmp_path: names, layouts, LR files, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import noise, save
from PIL import Image

from srgan_cli.errors import DatasetError, InputImageError, UsageError
from srgan_cli.evaluation.datasets import (
    LoadFailure,
    Sample,
    min_scorable_side,
    open_dataset,
)
from srgan_cli.evaluation.metrics import psnr_ssim
from srgan_cli.media.resize import imresize, modcrop


def _benchmark(folder: Path, scales: tuple[int, ...] = (2,), gray_last: bool = False,
               hr: str = "HR", lr: str = "LR_bicubic") -> dict[str, np.ndarray]:
    """A folder in the EDSR layout with three images of odd sizes; returns the HR arrays."""
    images = {"a": noise(31, 45, 1), "b": noise(40, 27, 2), "c": noise(33, 33, 3, gray=gray_last)}
    for name, arr in images.items():
        save(folder / hr / f"{name}.png", arr)
        for s in scales:
            save(folder / lr / f"X{s}" / f"{name}x{s}.png", imresize(modcrop(arr, s), 1 / s))
    return images


def test_known_name_with_shipped_lr(tmp_path: Path) -> None:
    images = _benchmark(tmp_path / "Set5")
    ds = open_dataset("set5", 2, data_root=tmp_path)
    assert (ds.name, ds.scale, len(ds), ds.lr_source) == ("Set5", 2, 3, "file")
    assert ds.names == ["a", "b", "c"]
    samples = list(ds)
    for s in samples:
        hr = images[s.name]
        np.testing.assert_array_equal(s.hr, modcrop(hr, 2))
        assert s.hr.shape[0] % 2 == 0 and s.hr.shape[1] % 2 == 0
        assert s.lr.shape[:2] == (s.hr.shape[0] // 2, s.hr.shape[1] // 2)
        assert s.lr_source == "file"


def test_missing_lr_scale_and_regenerate_use_matlab_bicubic(tmp_path: Path) -> None:
    _benchmark(tmp_path / "Set5", scales=(2,))
    for ds in (open_dataset("set5", 3, data_root=tmp_path),
               open_dataset("set5", 2, data_root=tmp_path, regenerate_lr=True)):
        assert ds.lr_source == "bicubic"
        for s in ds:
            assert s.lr_source == "bicubic"
            np.testing.assert_array_equal(s.lr, imresize(s.hr, 1 / ds.scale))


def test_folder_names_match_case_insensitively_and_aliases(tmp_path: Path) -> None:
    _benchmark(tmp_path / "bsd100", hr="hr", lr="lr_bicubic")
    (tmp_path / "bsd100" / "lr_bicubic" / "X2").rename(tmp_path / "bsd100" / "lr_bicubic" / "x2")
    for spec in ("b100", "BSD100", "bsd100"):
        ds = open_dataset(spec, 2, data_root=tmp_path)
        assert len(ds) == 3 and ds.lr_source == "file"


def test_gray_images_stay_gray(tmp_path: Path) -> None:
    _benchmark(tmp_path / "Set14", gray_last=True)
    gray = {s.name: s for s in open_dataset("set14", 2, data_root=tmp_path)}["c"]
    assert gray.hr.ndim == 2 and gray.lr.ndim == 2 and gray.hr.shape == (32, 32)


def test_samples_of_every_mode(tmp_path: Path) -> None:
    """Alpha dropped; 16-bit gray kept gray and rounded to 8 bits (the one decoder's view)."""
    rgba = np.dstack([noise(8, 10, 4), np.full((8, 10), 7, np.uint8)])
    save(tmp_path / "m" / "rgba.png", rgba)
    g16 = (np.arange(80, dtype=np.uint16).reshape(8, 10) * 900)
    Image.fromarray(g16).save(tmp_path / "m" / "g16.png")
    by_name = {s.name: s for s in open_dataset(str(tmp_path / "m"), 2)}
    np.testing.assert_array_equal(by_name["rgba"].hr, rgba[..., :3])
    out = by_name["g16"].hr
    assert out.ndim == 2 and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.floor(g16 / 257.0 + 0.5).astype(np.uint8))


def test_eval_refuses_what_upscale_refuses(tmp_path: Path) -> None:
    """A GIF named .png is not scored: it fails alone, with the decoder's reason."""
    folder = tmp_path / "f"
    save(folder / "ok.png", noise(20, 20, 1))
    Image.fromarray(noise(20, 20, 2)).save(folder / "gif.png", format="GIF")
    ds = open_dataset(str(folder), 2)
    assert ds.names == ["gif", "ok"]
    gif, ok = ds.load_all()
    assert isinstance(gif, LoadFailure) and isinstance(ok, Sample)
    assert "gif.png: cannot read image (not a PNG, JPEG, BMP, TIFF or WebP" in gif.error
    assert "\n" not in gif.error


def test_data_root_from_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _benchmark(tmp_path / "env" / "Urban100")
    _benchmark(tmp_path / "cwd" / "data" / "Manga109")
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path / "env"))
    assert len(open_dataset("urban100", 2)) == 3
    monkeypatch.delenv("SRGAN_DATA")
    monkeypatch.chdir(tmp_path / "cwd")
    assert open_dataset("manga109", 2).root == tmp_path / "cwd" / "data" / "Manga109"


def test_path_specs(tmp_path: Path) -> None:
    _benchmark(tmp_path / "mine")
    ds = open_dataset(str(tmp_path / "mine"), 2)
    assert (ds.name, ds.lr_source, len(ds)) == ("mine", "file", 3)
    plain = tmp_path / "plain"
    for i in range(2):
        save(plain / f"img{i}.png", noise(20, 22, 10 + i))
    (plain / "notes.txt").write_text("not an image")
    ds = open_dataset(str(plain), 4)
    assert ds.names == ["img0", "img1"] and ds.lr_source == "bicubic"
    assert [s.hr.shape for s in ds] == [(20, 20, 3), (20, 20, 3)]


def _div2k(root: Path, split: str, names: list[str], with_lr: bool) -> None:
    for i, name in enumerate(names):
        hr = noise(26, 30, 20 + i)
        save(root / "DIV2K" / f"DIV2K_{split}_HR" / f"{name}.png", hr)
        if with_lr:
            save(root / "DIV2K" / f"DIV2K_{split}_LR_bicubic" / "X2" / f"{name}x2.png",
                  imresize(modcrop(hr, 2), 0.5))


def test_div2k_official_layout_and_splits(tmp_path: Path) -> None:
    _div2k(tmp_path, "valid", ["0801", "0802"], with_lr=True)
    _div2k(tmp_path, "train", ["0001", "0002", "0003"], with_lr=False)
    valid = open_dataset("div2k", 2, data_root=tmp_path)
    assert (valid.names, valid.lr_source) == (["0801", "0802"], "file")
    train = open_dataset("DIV2K", 2, data_root=tmp_path, split="train")
    assert (len(train), train.lr_source) == (3, "bicubic")
    assert open_dataset("div2k", 2, data_root=tmp_path / "DIV2K").names == ["0801", "0802"]
    with pytest.raises(DatasetError, match="DIV2K_valid_HR"):
        open_dataset("div2k", 2, data_root=tmp_path / "nowhere")


def test_lr_size_mismatch_names_the_file(tmp_path: Path) -> None:
    _benchmark(tmp_path / "Set5")
    bad = tmp_path / "Set5" / "LR_bicubic" / "X2" / "bx2.png"
    save(bad, noise(19, 13, 5))
    with pytest.raises(DatasetError) as err:
        open_dataset("set5", 2, data_root=tmp_path)
    msg = str(err.value)
    assert str(bad) in msg and "13x19" in msg and "expected 13x20" in msg and "\n" not in msg


def test_missing_lr_file_is_reported(tmp_path: Path) -> None:
    _benchmark(tmp_path / "Set5")
    (tmp_path / "Set5" / "LR_bicubic" / "X2" / "cx2.png").unlink()
    with pytest.raises(DatasetError, match="cx2.png.*pass regenerate_lr"):
        open_dataset("set5", 2, data_root=tmp_path)
    assert len(open_dataset("set5", 2, data_root=tmp_path, regenerate_lr=True)) == 3


def test_missing_and_empty_datasets(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        open_dataset("set14", 4, data_root=tmp_path)
    msg = str(err.value)
    assert "Set14" in msg and str(tmp_path) in msg and "data/README.md" in msg
    assert "\n" not in msg
    (tmp_path / "Set14" / "HR").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images in .*data/README.md"):
        open_dataset("set14", 4, data_root=tmp_path)
    with pytest.raises(DatasetError, match="neither a known name"):
        open_dataset(str(tmp_path / "absent"), 4)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match="not a folder"):
        open_dataset(str(tmp_path / "file.png"), 4)


def test_corrupt_and_too_small_images(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    save(folder / "ok.png", noise(20, 20, 1))
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    ds = open_dataset(str(folder), 2)  # an unreadable file fails alone, when it is loaded
    broken, ok = ds.load_all()
    assert isinstance(broken, LoadFailure) and "broken.png: cannot read image" in broken.error
    assert isinstance(ok, Sample) and ok.name == "ok"
    (folder / "broken.png").unlink()
    save(folder / "tiny.png", noise(3, 9, 2))
    with pytest.raises(DatasetError, match="tiny.png: image is 9x3, smaller than the scale x4"):
        open_dataset(str(folder), 4)


def _truncate(path: Path) -> None:
    """Keep the header (so the dataset opens) but cut the pixel data in half."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_image_that_fails_to_decode_is_a_load_failure_not_the_end(tmp_path: Path) -> None:
    images = _benchmark(tmp_path / "Set5")
    _truncate(tmp_path / "Set5" / "HR" / "b.png")
    _truncate(tmp_path / "Set5" / "LR_bicubic" / "X2" / "cx2.png")
    ds = open_dataset("set5", 2, data_root=tmp_path)  # the headers are fine: it opens
    assert ds.names == ["a", "b", "c"]
    a, b, c = ds.load_all()
    assert isinstance(a, Sample) and a.name == "a"
    np.testing.assert_array_equal(a.hr, modcrop(images["a"], 2))
    assert isinstance(b, LoadFailure) and b.name == "b"
    assert "b.png: cannot read image" in b.error and "truncated" in b.error
    assert isinstance(c, LoadFailure) and "cx2.png: cannot read image" in c.error
    assert "\n" not in b.error + c.error
    assert b.exit_code == c.exit_code == InputImageError.exit_code  # a bad image: exit 3
    with pytest.raises(InputImageError, match="b.png: cannot read image"):
        list(ds)  # plain iteration stays strict


def test_exif_rotation_is_seen_in_the_header_check(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the 20x10 file is a 10x20 (w x h) image
    folder = tmp_path / "Rot"
    (folder / "HR").mkdir(parents=True)
    Image.fromarray(noise(10, 20, 1)).save(folder / "HR" / "r.png", exif=exif)
    save(folder / "LR_bicubic" / "X2" / "rx2.png", noise(5, 10, 2))  # made unrotated: wrong
    with pytest.raises(DatasetError, match="rx2.png: LR is 10x5, expected 5x10"):
        open_dataset(str(folder), 2)
    (sample,) = open_dataset(str(folder), 2, regenerate_lr=True)
    assert sample.hr.shape == (20, 10, 3)


def test_bad_scale_and_split(tmp_path: Path) -> None:
    _benchmark(tmp_path / "Set5")
    with pytest.raises(UsageError, match="positive integer"):
        open_dataset("set5", 0, data_root=tmp_path)
    with pytest.raises(UsageError, match="valid, train"):
        open_dataset("div2k", 2, data_root=tmp_path, split="test")
    with pytest.raises(UsageError, match="div2k only"):
        open_dataset("set5", 2, data_root=tmp_path, split="train")
    # numpy integers are accepted where an int is typed
    assert open_dataset("set5", np.int64(2), data_root=tmp_path).scale == 2  # type: ignore[arg-type]


def test_partial_known_sets_say_so(tmp_path: Path) -> None:
    _benchmark(tmp_path / "Set5")
    _benchmark(tmp_path / "BSD100")
    set5 = open_dataset("set5", 2, data_root=tmp_path)
    assert (len(set5), set5.expected, set5.partial) == (3, 5, True)
    assert "3 of 5 images" in repr(set5)
    assert open_dataset("b100", 2, data_root=tmp_path).expected == 100
    _div2k(tmp_path, "valid", ["0801"], with_lr=False)
    _div2k(tmp_path, "train", ["0001"], with_lr=False)
    valid = open_dataset("div2k", 2, data_root=tmp_path)
    train = open_dataset("div2k", 2, data_root=tmp_path, split="train")
    assert (valid.expected, valid.partial, train.expected, train.partial) == (100, True, 800, True)
    own = open_dataset(str(tmp_path / "Set5"), 2)  # a folder: no official count
    assert (own.expected, own.partial) == (None, False) and "3 images" in repr(own)


def test_complete_known_set_is_not_partial(tmp_path: Path) -> None:
    for i in range(5):
        save(tmp_path / "Set5" / "HR" / f"img{i}.png", noise(12, 14, i))
    ds = open_dataset("set5", 2, data_root=tmp_path)
    assert (len(ds), ds.expected, ds.partial) == (5, 5, False)


def test_odd_file_names_give_one_line_errors(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    save(folder / "HR" / "a\nb.png", noise(12, 14, 1))
    (folder / "HR" / "c\x1b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "LR_bicubic" / "X2").mkdir(parents=True)
    with pytest.raises(DatasetError) as info:
        open_dataset(str(folder), 2)
    assert "\n" not in str(info.value) and "a\\nb.png" in str(info.value)
    ds = open_dataset(str(folder), 2, regenerate_lr=True)
    failures = [r for r in ds.load_all() if isinstance(r, LoadFailure)]
    assert len(failures) == 1 and "c\\x1b.png: cannot read image (" in failures[0].error
    assert "\x1b" not in failures[0].error and "\n" not in failures[0].error
    assert failures[0].error.count("c\\x1b.png") == 1  # the reason is not prefixed again


@pytest.mark.parametrize(("scale", "crop"), [(2, 4), (2, 0), (3, 3), (4, 1)])
def test_images_too_small_to_score_are_refused_from_the_headers(
        tmp_path: Path, scale: int, crop: int) -> None:
    side = min_scorable_side(scale, crop)
    folder = tmp_path / f"x{scale}c{crop}"
    save(folder / "fits.png", noise(side, side + 1, 1))
    save(folder / "short.png", noise(side - 1, 40, 2))
    save(folder / "narrow.png", noise(40, side - 1, 3))
    ds = open_dataset(str(folder), scale)
    with pytest.raises(DatasetError) as info:
        ds.check_scorable(crop)
    msg = str(info.value)
    assert msg.startswith(f"{folder.name}: 2 of 3 images are too small to score (such as "
                          f"narrow.png, {side - 1}x40)") and f"at least {side}x{side}" in msg
    assert ("lower crop_border" in msg) == (crop > 0) and "\n" not in msg
    fits, narrow = (modcrop(noise(n, n, 4), scale) for n in (side, side - 1))
    psnr_ssim(fits, fits, crop_border=crop)  # the bound is exact: the smallest size scores
    with pytest.raises(ValueError, match="SSIM needs|nothing left"):
        psnr_ssim(narrow, narrow, crop_border=crop)
