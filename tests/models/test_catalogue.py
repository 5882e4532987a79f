"""The model catalogue as data (`srgan_cli.models.catalogue`): every shipped entry is complete
and checkable, names are unique, the user catalogue adds and overrides, lookups fall back to
files and bundled names first. Torch-free."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from srgan_cli.errors import ConfigError
from srgan_cli.models import catalogue

ENTRIES = catalogue.builtin()


def _raw(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "tiny-x4", "aliases": ["Tiny_X4"], "architecture": "compact", "scale": 4,
        "purpose": ["photo"], "license": "CC0-1.0", "author": "tests", "file": "tiny_x4.pth",
        "bytes": 10, "sha256": "a" * 64, "urls": ["https://example.invalid/tiny_x4.pth"],
        "source": "built in the test"}
    raw.update(over)
    return raw


def _doc(*models: dict[str, Any]) -> dict[str, Any]:
    return {"format": catalogue.FORMAT, "models": list(models)}


def test_the_catalogue_has_the_models_people_ask_for() -> None:
    assert len(ENTRIES) >= 25
    cat = catalogue.Catalogue(ENTRIES)
    for name in ("RealESRGAN_x4plus", "realesrgan-x2plus", "RealESRGAN_x4plus_anime_6B",
                 "realesr-general-x4v3", "realesr-general-wdn-x4v3", "realesr-animevideov3",
                 "esrgan-x4", "swinir-classical-x4", "swinir-real-x4", "hat-s-x4", "dat-x4",
                 "span-x4", "ultrasharp-v2", "remacri"):
        assert cat.get(name) is not None, name
    archs = {e.architecture for e in ENTRIES}
    assert {"esrgan", "compact", "swinir", "hat", "dat", "omnisr", "span", "rcan"} <= archs


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_entry_is_complete_and_checkable(entry: catalogue.Entry) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
    assert entry.bytes > 0 and entry.scale in (1, 2, 3, 4, 8)
    assert entry.license and entry.author and entry.architecture
    assert entry.urls and all(u.startswith("https://") for u in entry.urls)
    assert entry.purpose and set(entry.purpose) <= set(catalogue.PURPOSES)
    assert entry.source.startswith("OpenModelDB/open-model-database@")  # where the facts are
    for score in entry.scores:
        assert score.dataset in catalogue.DATASETS and score.protocol and score.source


def test_names_aliases_and_files_are_unique_case_insensitively() -> None:
    names = [n.lower() for e in ENTRIES for n in e.names]
    assert len(names) == len(set(names))
    files = [e.file.lower() for e in ENTRIES]
    assert len(files) == len(set(files))


def test_the_denoise_twin_is_in_the_catalogue_with_the_same_shape() -> None:
    cat = catalogue.Catalogue(ENTRIES)
    general = cat.get("realesr-general-x4v3")
    assert general is not None and general.denoise_twin is not None
    twin = cat.get(general.denoise_twin)
    assert twin is not None and (twin.architecture, twin.scale, twin.bytes) == (
        general.architecture, general.scale, general.bytes)


def test_published_scores_carry_protocol_and_source() -> None:
    dat = catalogue.Catalogue(ENTRIES).get("dat-x4")
    assert dat is not None
    pub = dat.published("Urban100")
    assert pub is not None and (pub.psnr, pub.ssim) == (27.87, 0.8343) and not pub.measured
    assert dat.published("set5") is None
    line = catalogue.compare_line(dat, "urban100", 4, 27.80, 0.8350)
    assert line is not None and "published 27.87, -0.07 dB" in line and "+0.0007" in line
    assert catalogue.compare_line(dat, "urban100", 2, 27.80, 0.8350) is None


@pytest.mark.parametrize(("over", "what"), [
    ({"sha256": "abc"}, "64 hexadecimal"),
    ({"urls": ["ftp://example.invalid/x.pth"]}, "https"),
    ({"bytes": 0}, "bytes"),
    ({"license": ""}, "license"),
    ({"file": "../x.pth"}, "bare file name"),
    ({"scale": "4"}, "scale"),
])
def test_a_bad_entry_is_refused_in_one_line(over: dict[str, Any], what: str) -> None:
    with pytest.raises(ConfigError, match=what) as info:
        catalogue.parse(_doc(_raw(**over)), "cat.json")
    assert "\n" not in str(info.value) and "tiny-x4" in str(info.value)


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="'TINY_X4' is given twice"):
        catalogue.parse(_doc(_raw(), _raw(name="other", aliases=["TINY_X4"],
                                          file="o.pth")), "cat.json")


def test_the_user_catalogue_adds_and_overrides(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "team.json"
    user.write_text(json.dumps(_doc(
        _raw(), _raw(name="realesrgan-x4plus", aliases=[], file="ours.pth", author="team"))))
    monkeypatch.setenv("SRGAN_MODEL_CATALOGUE", str(user))
    cat = catalogue.catalogue()
    assert len(cat) == len(ENTRIES) + 1
    mine = cat.get("REALESRGAN-X4PLUS")
    assert mine is not None and mine.author == "team"
    assert cat.get("RealESRGAN_x4plus") is None  # the built-in entry went, aliases too
    assert cat.get("tiny_x4") is not None
    user.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        catalogue.catalogue()


def test_files_and_bundled_names_come_before_catalogue_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert catalogue.lookup("realesrgan-x4plus") is not None
    (tmp_path / "realesrgan-x4plus").write_bytes(b"x")  # a file of that name in the folder
    assert catalogue.lookup("realesrgan-x4plus") is None
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "remacri.safetensors").write_bytes(b"x")  # a bundled model
    assert catalogue.lookup("remacri") is None
    assert catalogue.lookup("no-such-model") is None


def test_cache_dir_and_mirror_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = catalogue.parse(_doc(_raw()), "t")[0]
    monkeypatch.delenv("SRGAN_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert catalogue.cached_path(entry) == tmp_path / "xdg" / "srgan-cli" / "models" / entry.file
    monkeypatch.setenv("SRGAN_MODEL_CACHE", str(tmp_path / "mine"))
    assert catalogue.cached_path(entry) == tmp_path / "mine" / "tiny_x4.pth"
    monkeypatch.delenv("SRGAN_MODEL_MIRROR", raising=False)
    assert catalogue.urls(entry) == entry.urls
    monkeypatch.setenv("SRGAN_MODEL_MIRROR", "http://mirror.lan/models/")
    assert catalogue.urls(entry) == ("http://mirror.lan/models/tiny_x4.pth",)
    monkeypatch.setenv("SRGAN_MODEL_MIRROR", str(tmp_path / "share"))
    assert catalogue.urls(entry) == ((tmp_path / "share" / "tiny_x4.pth").as_uri(),)


def test_a_file_name_finds_its_entry_and_a_typo_gets_a_suggestion(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.errors import ModelError
    from srgan_cli.models.loading import load

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path / "weights"))
    entry = catalogue.lookup("RealESRGAN_x4plus.pth")  # no such file here: the catalogue's
    assert entry is not None and entry.name == "realesrgan-x4plus"
    with pytest.raises(ModelError, match="close name: realesrgan-x4plus") as info:
        load("realesrgan-x4pluss")
    assert "\n" not in str(info.value)
