"""Training data: sources (folders, paired LR, DIV2K), decode cache, aligned augmented patches,
bad-image handling, step-keyed batch sampling (resume, DDP) and multi-worker loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import noise, save
from torch.utils.data import DataLoader, Dataset

from srgan_cli.errors import DatasetError
from srgan_cli.media.discovery import ImagePair, gather_sources
from srgan_cli.media.resize import imresize, modcrop
from srgan_cli.training import data as data_mod
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.data import (
    PatchDataset,
    StepBatchSampler,
    build_cache,
    sample_patch,
    worker_init,
)


def _cached(entries: list, name: str) -> tuple[np.ndarray, np.ndarray]:
    (e,) = [e for e in entries if e.name == name]
    return np.load(e.hr), np.load(e.lr)


# ----------------------------------------------------------------------------- sources


def test_folders_of_png_jpeg_bmp(tmp_path: Path) -> None:
    a = save(tmp_path / "f1" / "a.png", noise(34, 41, 1))
    b = save(tmp_path / "f1" / "b.BMP", noise(36, 36, 2))
    c = save(tmp_path / "f1" / "c.jpg", noise(40, 33, 3), quality=95)
    (tmp_path / "f1" / "notes.txt").write_text("not an image")
    d = save(tmp_path / "f2" / "HR" / "d.jpeg", noise(32, 32, 4))  # benchmark layout: HR/
    sources = gather_sources([str(tmp_path / "f1"), str(tmp_path / "f2")], [], 4)
    assert [s.hr for s in sources] == [a, b, c, d]
    assert all(s.lr is None for s in sources)

    entries = build_cache(sources, 4, 32, tmp_path / "cache")
    hr, lr = _cached(entries, "a")
    want_hr = modcrop(noise(34, 41, 1), 4)
    np.testing.assert_array_equal(hr, want_hr)  # PNG: lossless, modcropped to 32x40
    np.testing.assert_array_equal(lr, imresize(want_hr, 1 / 4))  # LR: MATLAB bicubic
    assert entries[0].lr_size == (8, 10)
    hr_b, _ = _cached(entries, "b")
    np.testing.assert_array_equal(hr_b, noise(36, 36, 2))
    hr_c, lr_c = _cached(entries, "c")
    assert hr_c.shape == (40, 32, 3) and lr_c.shape == (10, 8, 3)  # JPEG decoded, lossy


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nope"):
        gather_sources([str(tmp_path / "nope")], [], 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        gather_sources([str(tmp_path / "empty")], [], 4)


def test_paired_lr_folders(tmp_path: Path) -> None:
    hr_a, hr_b = noise(32, 40, 1), noise(36, 32, 2)
    save(tmp_path / "hr" / "a.png", hr_a)
    save(tmp_path / "hr" / "b.png", hr_b)
    lr_a, lr_b = noise(8, 10, 11), noise(9, 8, 12)  # not bicubic: proves the files are used
    la = save(tmp_path / "lr" / "a.png", lr_a)
    lb = save(tmp_path / "lr" / "bx4.png", lr_b)  # the x<scale> suffix is accepted
    sources = gather_sources([str(tmp_path / "hr")], [str(tmp_path / "lr")], 4)
    assert [s.lr for s in sources] == [la, lb]
    entries = build_cache(sources, 4, 32, tmp_path / "cache")
    for name, hr, lr in (("a", hr_a, lr_a), ("b", hr_b, lr_b)):
        got_hr, got_lr = _cached(entries, name)
        np.testing.assert_array_equal(got_hr, hr)
        np.testing.assert_array_equal(got_lr, lr)

    (tmp_path / "lr" / "bx4.png").unlink()
    with pytest.raises(DatasetError, match=r"b\.png.*no LR image"):
        gather_sources([str(tmp_path / "hr")], [str(tmp_path / "lr")], 4)


def test_div2k_official_layout(tmp_path: Path) -> None:
    base = tmp_path / "DIV2K"
    hr1, hr2 = noise(34, 40, 1), noise(32, 37, 2)
    save(base / "DIV2K_train_HR" / "0001.png", hr1)
    save(base / "DIV2K_train_HR" / "0002.png", hr2)
    save(base / "DIV2K_valid_HR" / "0801.png", noise(32, 32, 3))  # not training data

    # no LR folder: LR made with MATLAB bicubic
    sources = gather_sources(["div2k"], [], 4, data_root=str(tmp_path))
    assert [(s.hr.name, s.lr) for s in sources] == [("0001.png", None), ("0002.png", None)]
    entries = build_cache(sources, 4, 32, tmp_path / "cache")
    hr, lr = _cached(entries, "0002")
    np.testing.assert_array_equal(hr, modcrop(hr2, 4))
    np.testing.assert_array_equal(lr, imresize(modcrop(hr2, 4), 1 / 4))

    # an LR folder with a file missing is an error naming it, not a silent fallback
    lr1, lr2 = noise(8, 10, 21), noise(8, 9, 22)
    lr_file = save(base / "DIV2K_train_LR_bicubic" / "X4" / "0001x4.png", lr1)
    with pytest.raises(DatasetError, match="0002x4.png"):
        gather_sources(["div2k"], [], 4, data_root=str(tmp_path))
    lr_file2 = save(base / "DIV2K_train_LR_bicubic" / "X4" / "0002x4.png", lr2)
    sources = gather_sources(["div2k"], [], 4, data_root=str(tmp_path))
    assert [(s.hr.name, s.lr) for s in sources] == [("0001.png", lr_file), ("0002.png", lr_file2)]
    entries = build_cache(sources, 4, 32, tmp_path / "cache")
    hr, lr = _cached(entries, "0001")
    np.testing.assert_array_equal(hr, modcrop(hr1, 4))
    np.testing.assert_array_equal(lr, lr1)

    with pytest.raises(DatasetError, match="DIV2K_train_HR"):
        gather_sources(["div2k"], [], 4, data_root=str(tmp_path / "elsewhere"))


def test_div2k_folder_names_match_case_insensitively(tmp_path: Path) -> None:
    save(tmp_path / "div2k" / "div2k_train_hr" / "0001.png", noise(32, 32, 1))
    lr = save(tmp_path / "div2k" / "div2k_train_lr_bicubic" / "x4" / "0001x4.png", noise(8, 8, 2))
    sources = gather_sources(["div2k"], [], 4, data_root=str(tmp_path))
    assert [(s.hr.name, s.lr) for s in sources] == [("0001.png", lr)]


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path) -> None:
    save(tmp_path / "imgs" / "a.png", noise(32, 32, 1))
    sources = gather_sources([str(tmp_path / "imgs")], [], 4)
    (entry,) = build_cache(sources, 4, 32, tmp_path / "cache")
    entry.hr.write_bytes(b"torn")
    (entry,) = build_cache(sources, 4, 32, tmp_path / "cache")
    hr, _ = _cached([entry], "a")
    assert hr.shape == (32, 32, 3)


# ----------------------------------------------------------------------------- patches

_DIHEDRAL = [
    lambda a, k=k, t=t: np.rot90(a.transpose(1, 0, 2) if t else a, k)
    for k in range(4)
    for t in (False, True)
]


def _coordinate_image(h: int, w: int) -> np.ndarray:
    """LR whose pixel (y, x) holds (y, x, 7): every crop tells where it came from."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([yy, xx, np.full_like(yy, 7)], axis=-1).astype(np.uint8)


def test_sample_patch_aligned_with_all_eight_variants() -> None:
    s, patch = 4, 16
    lr = _coordinate_image(13, 17)
    hr = np.repeat(np.repeat(lr, s, axis=0), s, axis=1)  # HR pixel block (y, x) <-> LR (y, x)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        hr_c, lr_c = sample_patch(hr, lr, s, patch, rng)
        assert hr_c.shape == (patch, patch, 3) and lr_c.shape == (patch // s, patch // s, 3)
        assert hr_c.flags.c_contiguous and lr_c.flags.c_contiguous
        # aligned: the HR crop is the LR crop upsampled, whatever the flip/rotation
        np.testing.assert_array_equal(hr_c, np.repeat(np.repeat(lr_c, s, 0), s, 1))
        top, left = int(lr_c[..., 0].min()), int(lr_c[..., 1].min())
        plain = lr[top : top + patch // s, left : left + patch // s]
        matches = [i for i, f in enumerate(_DIHEDRAL) if np.array_equal(f(plain), lr_c)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))

    hr_c, lr_c = sample_patch(hr, lr, s, patch, np.random.default_rng(1), augment=False)
    top, left = int(lr_c[0, 0, 0]), int(lr_c[0, 0, 1])
    np.testing.assert_array_equal(lr_c, lr[top : top + 4, left : left + 4])
    np.testing.assert_array_equal(hr_c, hr[top * 4 : top * 4 + 16, left * 4 : left * 4 + 16])


def test_patches_from_real_bicubic_lr_are_aligned(tmp_path: Path) -> None:
    """With LR = MATLAB bicubic of HR, each LR crop is (nearly) the bicubic of its HR crop."""
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    smooth = 128 + 60 * np.sin(xx / 7) + 50 * np.cos(yy / 9)
    hr = np.stack([smooth, smooth[::-1], smooth.T], -1).round().astype(np.uint8)
    lr = imresize(hr, 1 / 4)
    ds = PatchDataset(
        [data_mod.CachedPair("x", _npy(tmp_path, "h", hr), _npy(tmp_path, "l", lr), (16, 16))],
        4, 32, seed=3,
    )
    for k in range(6):
        hr_t, lr_t = ds[k]
        assert hr_t.dtype == torch.uint8 and hr_t.shape == (3, 32, 32) and lr_t.shape == (3, 8, 8)
        down = imresize(hr_t.permute(1, 2, 0).numpy(), 1 / 4).astype(int)
        inner = np.abs(down - lr_t.permute(1, 2, 0).numpy().astype(int))[2:-2, 2:-2]
        assert inner.max() <= 2  # only crop borders differ; a 1-px shift gives errors of ~10


def _npy(folder: Path, name: str, arr: np.ndarray) -> Path:
    p = folder / f"{name}.npy"
    np.save(p, arr)
    return p


def test_patch_dataset_is_a_function_of_seed_and_index(tmp_path: Path) -> None:
    srcs = [ImagePair(save(tmp_path / "d" / f"{i}.png", noise(40, 48, i))) for i in range(3)]
    entries = build_cache(srcs, 2, 16, tmp_path / "cache")
    a, b = PatchDataset(entries, 2, 16, seed=5), PatchDataset(entries, 2, 16, seed=5)
    for k in (0, 7, 10**9):
        assert all(torch.equal(x, y) for x, y in zip(a[k], b[k], strict=True))
    other = PatchDataset(entries, 2, 16, seed=6)
    assert any(not torch.equal(a[k][0], other[k][0]) for k in range(4))
    assert not torch.equal(a[0][0], a[1][0])


# ----------------------------------------------------------------------------- cache


def test_cache_is_built_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srcs = [ImagePair(save(tmp_path / "d" / f"{i}.png", noise(32, 36, i))) for i in range(2)]
    cache = tmp_path / "cache"
    first = build_cache(srcs, 4, 32, cache)
    assert len(list(cache.glob("*.npy"))) == 4
    assert not list(cache.glob(".*"))  # no temp files left

    def no_decode(path: object) -> np.ndarray:
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(data_mod, "read_uint8", no_decode)
    assert build_cache(srcs, 4, 32, cache) == first
    # the cached crop-size check still applies without decoding
    with pytest.raises(DatasetError, match=r"0\.png.*smaller than the 48 px patch"):
        build_cache(srcs, 4, 48, cache)
    # a changed file is decoded again
    save(srcs[1].hr, noise(32, 36, 9))
    with pytest.raises(AssertionError, match=r"1\.png"):
        build_cache(srcs, 4, 32, cache)


def _bad_tree(tmp_path: Path) -> tuple[list[ImagePair], dict[str, Path]]:
    good = save(tmp_path / "hr" / "good.png", noise(32, 32, 1))
    small = save(tmp_path / "hr" / "small.png", noise(20, 40, 2))
    broken = tmp_path / "hr" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not a PNG body")
    mism_hr = save(tmp_path / "hr" / "mism.png", noise(32, 32, 3))
    mism_lr = save(tmp_path / "lr" / "mism.png", noise(9, 8, 4))  # expected 8x8
    srcs = [ImagePair(good), ImagePair(small), ImagePair(broken), ImagePair(mism_hr, mism_lr)]
    return srcs, {"small": small, "broken": broken, "mism": mism_lr}


@pytest.mark.parametrize("bad", ["small", "broken", "mism"])
def test_bad_image_is_a_dataset_error_naming_the_file(tmp_path: Path, bad: str) -> None:
    srcs, files = _bad_tree(tmp_path)
    src = [s for s in srcs if str(files[bad]) in (str(s.hr), str(s.lr))]
    with pytest.raises(DatasetError) as info:
        build_cache([srcs[0], *src], 4, 32, tmp_path / "cache")
    msg = str(info.value)
    assert str(files[bad]) in msg and "\n" not in msg
    expected = {"small": "smaller than the 32 px patch", "broken": "training image",
                "mism": "LR is 8x9, expected 8x8"}[bad]
    assert expected in msg


def test_skip_bad_warns_and_keeps_the_rest(tmp_path: Path) -> None:
    srcs, files = _bad_tree(tmp_path)
    warnings: list[str] = []
    entries = build_cache(srcs, 4, 32, tmp_path / "cache", skip_bad=True, warn=warnings.append)
    assert [e.name for e in entries] == ["good"]
    assert len(warnings) == 3
    for w, f in zip(warnings, files.values(), strict=True):
        assert w.startswith("warning: skipping") and str(f) in w
    with pytest.warns(UserWarning, match="small.png"):  # default: a Python warning
        build_cache(srcs[:2], 4, 32, tmp_path / "cache", skip_bad=True)
    with pytest.raises(DatasetError, match="no usable training images"):
        build_cache(srcs[1:], 4, 32, tmp_path / "cache", skip_bad=True, warn=warnings.append)


# ----------------------------------------------------------------------------- sampling


def test_step_batch_sampler_is_deterministic_and_resumable() -> None:
    full = list(StepBatchSampler(0, 6, 3))
    assert full == list(StepBatchSampler(0, 6, 3)) and len(StepBatchSampler(0, 6, 3)) == 6
    assert full[0] == [0, 1, 2] and full[5] == [15, 16, 17]
    assert list(StepBatchSampler(4, 6, 3)) == full[4:]  # resume at step 4: the same stream
    assert len(StepBatchSampler(6, 6, 3)) == 0 and list(StepBatchSampler(7, 6, 3)) == []


def test_step_batch_sampler_ranks_are_disjoint() -> None:
    world, batch, steps = 3, 4, 5
    per_rank = [list(StepBatchSampler(1, steps, batch, r, world)) for r in range(world)]
    for s in range(steps - 1):
        step_ids = [set(per_rank[r][s]) for r in range(world)]
        for i in range(world):
            for j in range(i + 1, world):
                assert not step_ids[i] & step_ids[j]
        # together the ranks cover one contiguous block per step: nothing skipped or repeated
        assert set().union(*step_ids) == set(range((s + 1) * world * batch,
                                                   (s + 2) * world * batch))


class _NumpyGlobalDraw(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, k: int) -> int:
        info = torch.utils.data.get_worker_info()
        return int(np.random.randint(0, 2**31)) * 10 + (info.id if info else 9)


def test_worker_init_seeds_numpy_per_worker() -> None:
    loader = DataLoader(_NumpyGlobalDraw(), batch_size=None, num_workers=2,
                        worker_init_fn=worker_init)
    draws = {v % 10: v // 10 for v in loader}  # worker id -> first numpy draw
    assert set(draws) == {0, 1} and draws[0] != draws[1]


def test_loader_with_workers_matches_single_process(tmp_path: Path) -> None:
    from srgan_cli.training.loop import Trainer

    for i in range(2):
        save(tmp_path / "d" / f"{i}.png", noise(40, 44, i))
    common: dict[str, Any] = dict(
        data=[str(tmp_path / "d")], scale=2, num_blocks=1, channels=4, patch_size=16,
        batch_size=3, steps=5, device="cpu", cache_dir=str(tmp_path / "cache"),
        run_dir=str(tmp_path / "run"))

    def batches(workers: int) -> tuple[DataLoader, list]:
        t = Trainer(TrainConfig(**common, workers=workers), log=lambda m: None)
        loader = t.make_loader()
        return loader, [b for _ in range(2) for b in loader]  # two passes: persistent workers

    loader0, ref = batches(0)
    loader2, got = batches(2)
    assert loader2.num_workers == 2 and loader2.persistent_workers
    assert loader2.worker_init_fn is worker_init and not loader0.persistent_workers
    assert len(got) == len(ref) == 10
    for (h0, l0), (h2, l2) in zip(ref, got, strict=True):
        assert h0.shape == (3, 3, 16, 16) and l0.shape == (3, 3, 8, 8) and h0.dtype == torch.uint8
        assert torch.equal(h0, h2) and torch.equal(l0, l2)


def test_a_cache_folder_that_cannot_be_made_is_an_output_error(tmp_path: Path) -> None:
    """The cache is something the tool writes: exit 4 (an output), not 6 (a bad dataset)."""
    from srgan_cli.errors import OutputError

    (tmp_path / "file").write_text("not a folder")
    save(tmp_path / "hr" / "a.png", noise(64, 64, 0))
    sources = gather_sources([str(tmp_path / "hr")], [], 4)
    with pytest.raises(OutputError, match="cache folder .*: cannot create") as info:
        build_cache(sources, 4, 32, tmp_path / "file" / "cache")
    assert info.value.exit_code == 4
