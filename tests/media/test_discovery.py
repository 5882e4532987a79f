"""discovery.py: one extension set, hidden files skipped, case-insensitive layouts, LR pairing,
data roots (--data-root, $SRGAN_DATA, ./data, ~ expanded), used alike by eval and training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan_cli.errors import DatasetError
from srgan_cli.evaluation.datasets import open_dataset
from srgan_cli.media.decode import read_image
from srgan_cli.media.discovery import (
    ImagePair,
    benchmark_dirs,
    div2k_dirs,
    find_benchmark,
    gather_sources,
    images_in,
    is_image_name,
    pair_images,
    resolve_data_root,
)
from srgan_cli.media.formats import READ_EXTENSIONS


def _save(path: Path, h: int = 16, w: int = 16, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format=fmt)
    return path


# ----------------------------------------------------------------------------- folders


def test_one_extension_set_hidden_files_skipped_sorted(tmp_path: Path) -> None:
    names = ["b.PNG", "a.jpg", "c.jpeg", "d.bmp", "e.tif", "f.TIFF", "g.webp"]
    want = [_save(tmp_path / n, fmt=fmt) for n, fmt in zip(
        names, ["PNG", "JPEG", "JPEG", "BMP", "TIFF", "TIFF", "WEBP"], strict=True)]
    _save(tmp_path / ".hidden.png")
    _save(tmp_path / ".out.png.1a2b3c4d.part", fmt="PNG")
    _save(tmp_path / "p.ppm", fmt="PPM")  # the decoder does not read PPM: nowhere an image
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dir.png").mkdir()
    _save(tmp_path / "sub" / "s.png")
    _save(tmp_path / "sub" / ".h.png")
    assert images_in(tmp_path) == sorted(want)
    assert images_in(tmp_path, recursive=True) == sorted([*want, tmp_path / "sub" / "s.png"])
    for p in images_in(tmp_path, recursive=True):  # every name found, the decoder reads
        assert read_image(p).color.shape == (16, 16, 3)
    assert {e for e in READ_EXTENSIONS if is_image_name(Path(f"x{e.upper()}"))} == READ_EXTENSIONS
    assert not is_image_name(Path(".x.png")) and not is_image_name(Path("x.ppm"))


def test_hidden_and_unreadable_names_skipped_by_eval_and_training(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    _save(folder / "a.png", 32, 32)
    _save(folder / "b.webp", 32, 32, fmt="WEBP")  # training now reads what eval reads
    _save(folder / ".a.png", 32, 32)
    _save(folder / "c.ppm", 32, 32, fmt="PPM")
    assert open_dataset(str(folder), 2).names == ["a", "b"]
    assert [s.hr.name for s in gather_sources([str(folder)], [], 2)] == ["a.png", "b.webp"]


# ----------------------------------------------------------------------------- layouts


def test_benchmark_layout_is_case_insensitive(tmp_path: Path) -> None:
    _save(tmp_path / "set5" / "hr" / "baby.png")
    lr = _save(tmp_path / "set5" / "Lr_Bicubic" / "x4" / "BABYX4.PNG", 4, 4)
    assert find_benchmark("set5", tmp_path) == tmp_path / "set5"
    hr_dir, lr_dir = benchmark_dirs(tmp_path / "set5", 4)
    assert (hr_dir, lr_dir) == (tmp_path / "set5" / "hr", lr.parent)
    assert benchmark_dirs(tmp_path / "set5", 4, with_lr=False)[1] is None
    assert benchmark_dirs(tmp_path / "set5", 3)[1] is None  # no X3: LR made from HR
    assert pair_images(hr_dir, lr_dir, 4, hint="") == [ImagePair(hr_dir / "baby.png", lr)]
    assert benchmark_dirs(hr_dir, 4) == (hr_dir, None)  # a plain folder is its own HR
    with pytest.raises(DatasetError, match="Urban100"):
        find_benchmark("urban100", tmp_path)


def test_training_folder_finds_hr_case_insensitively(tmp_path: Path) -> None:
    hr = _save(tmp_path / "mine" / "hr" / "a.png", 32, 32)
    assert gather_sources([str(tmp_path / "mine")], [], 4) == [ImagePair(hr)]


def test_div2k_one_layout_and_lr_naming_for_eval_and_training(tmp_path: Path) -> None:
    base = tmp_path / "div2k"
    for split in ("train", "valid"):
        _save(base / f"div2k_{split}_hr" / "0001.png", 32, 32)
        _save(base / f"div2k_{split}_lr_bicubic" / "x4" / "0001x4.png", 8, 8)
    for split in ("train", "valid"):
        b, hr_dir, lr_dir = div2k_dirs(tmp_path, split, 4)
        assert (b, hr_dir) == (base, base / f"div2k_{split}_hr")
        assert lr_dir == base / f"div2k_{split}_lr_bicubic" / "x4"
        assert div2k_dirs(base, split, 4) == (base, hr_dir, lr_dir)  # root = the DIV2K folder
        assert div2k_dirs(tmp_path, split, 4, with_lr=False)[2] is None
    (train,) = gather_sources(["DIV2K"], [], 4, data_root=tmp_path)
    assert train.lr is not None and train.lr.name == "0001x4.png"
    ds = open_dataset("div2k", 4, data_root=tmp_path, split="train")
    assert (ds.names, ds.lr_dir) == (["0001"], train.lr.parent)
    with pytest.raises(DatasetError, match="DIV2K_valid_HR folder in"):
        div2k_dirs(tmp_path / "none", "valid", 4)


# ----------------------------------------------------------------------------- pairing


def test_lr_pairing_rule_and_errors(tmp_path: Path) -> None:
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    for n in ("a", "b", "c"):
        _save(hr_dir / f"{n}.png")
    la = _save(lr_dir / "ax2.png", 8, 8)
    _save(lr_dir / "a.png", 8, 8)  # x<s> naming wins over the plain name
    lb = _save(lr_dir / "B.BMP", 8, 8, fmt="BMP")  # plain name, any case, any read extension
    _save(lr_dir / "cx2.ppm", 8, 8, fmt="PPM")  # not an image name: no LR for c
    with pytest.raises(DatasetError) as info:
        pair_images(hr_dir, lr_dir, 2, hint="do this")
    msg = str(info.value)
    assert str(hr_dir / "c.png") in msg and "cx2.png" in msg and msg.endswith("; do this")
    lc = _save(lr_dir / "cX2.jpg", 8, 8)
    pairs = pair_images(hr_dir, lr_dir, 2, hint="")
    assert [(p.name, p.lr) for p in pairs] == [("a", la), ("b", lb), ("c", lc)]
    assert pair_images(hr_dir, None, 2, hint="") == [ImagePair(hr_dir / f"{n}.png")
                                                      for n in "abc"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images in .*empty"):
        pair_images(tmp_path / "empty", None, 2, hint="")


def test_training_lr_folder_must_exist(tmp_path: Path) -> None:
    _save(tmp_path / "hr" / "a.png", 32, 32)
    with pytest.raises(DatasetError, match="LR folder .*nope does not exist"):
        gather_sources([str(tmp_path / "hr")], [str(tmp_path / "nope")], 4)


# ----------------------------------------------------------------------------- data root


def test_data_root_precedence_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SRGAN_DATA", raising=False)
    assert resolve_data_root() == tmp_path / "data"
    assert resolve_data_root("") == tmp_path / "data"
    monkeypatch.setenv("SRGAN_DATA", "~/env")
    assert resolve_data_root(None) == tmp_path / "home" / "env"
    assert resolve_data_root("") == tmp_path / "home" / "env"
    assert resolve_data_root("~/cli") == tmp_path / "home" / "cli"  # --data-root wins
    assert resolve_data_root(tmp_path / "x") == tmp_path / "x"


def test_training_and_eval_share_the_data_root(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    hr = _save(tmp_path / "home" / "sr" / "DIV2K" / "DIV2K_train_HR" / "0001.png", 32, 32)
    _save(tmp_path / "cwd" / "data" / "DIV2K" / "DIV2K_train_HR" / "0009.png", 32, 32)
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.delenv("SRGAN_DATA", raising=False)
    assert gather_sources(["div2k"], [], 4)[0].hr.name == "0009.png"  # ./data
    monkeypatch.setenv("SRGAN_DATA", "~/sr")  # ~ expanded for training too
    assert gather_sources(["div2k"], [], 4) == [ImagePair(hr)]
    assert open_dataset("div2k", 4, split="train").names == ["0001"]
    with pytest.raises(DatasetError, match="nowhere"):
        gather_sources(["div2k"], [], 4, data_root="~/nowhere")
    # a folder entry is expanded too
    (folder,) = gather_sources(["~/sr/DIV2K/DIV2K_train_HR"], [], 4)
    assert folder.hr == hr


def test_ambiguous_stems_are_refused_by_eval_and_training(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    for name in ("a.png", "a.jpg", "b.png", "B.bmp", "c.png"):
        _save(folder / name, 32, 32)
    for refuse in (lambda: open_dataset(str(folder), 2),
                   lambda: gather_sources([str(folder)], [], 2)):
        with pytest.raises(DatasetError) as info:
            refuse()
        msg = str(info.value)
        assert "\n" not in msg and "(B.bmp, b.png; a.jpg, a.png)" in msg, msg
        assert "c.png" not in msg
    for i in range(5):  # many: the first three named, the rest counted
        _save(folder / f"m{i}.png", 16, 16)
        _save(folder / f"m{i}.jpg", 16, 16)
    with pytest.raises(DatasetError, match=r"; and 4 more\): "):
        pair_images(folder, None, 2, hint="")


def test_ambiguous_lr_names_are_refused(tmp_path: Path) -> None:
    _save(tmp_path / "Set5" / "HR" / "a.png", 32, 32)
    lr = tmp_path / "Set5" / "LR_bicubic" / "X2"
    _save(lr / "ax2.png", 16, 16)
    assert open_dataset("set5", 2, data_root=tmp_path).names == ["a"]
    _save(lr / "ax2.bmp", 16, 16, fmt="BMP")  # which one is a's LR?
    with pytest.raises(DatasetError, match=r"X2: images whose names .*\(ax2.bmp, ax2.png\)"):
        open_dataset("set5", 2, data_root=tmp_path)
    assert open_dataset("set5", 2, data_root=tmp_path, regenerate_lr=True).names == ["a"]
