"""Catalogue models fetched by name (`catalogue.fetch` over `download.fetch`) from a loopback
HTTP server serving spandrel networks with random weights built here: a good download, a wrong
hash, a transfer broken mid-body and resumed, two processes at once, offline with and without
the file, the mirror, a server error, a redirect. Nothing reaches the internet."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import child_env
from loopback import Behaviour, Server, catalogue_file, serving

from srgan_cli.errors import ModelError
from srgan_cli.models import catalogue, download
from srgan_cli.models.loading import load

ROOT = Path(__file__).resolve().parents[2]


def _compact_bytes(seed: int) -> bytes:
    """A tiny Real-ESRGAN Compact (SRVGGNetCompact) x4 with random weights, as torch.save."""
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    net = Compact(num_feat=8, num_conv=2, upscale=4)
    buf = io.BytesIO()
    torch.save({"params": net.state_dict()}, buf)
    return buf.getvalue()


BODY = _compact_bytes(0)
TWIN = _compact_bytes(1)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache, downloads allowed, no mirror."""
    monkeypatch.setenv("SRGAN_MODEL_CACHE", str(tmp_path / "cache"))
    for var in ("SRGAN_OFFLINE", "SRGAN_MODEL_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cache"


def _use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Server,
         body: bytes = BODY) -> catalogue.Entry:
    """The test catalogue (model 'tiny-x4', file tiny_x4.pth at the server) as the user's."""
    path = catalogue_file(tmp_path / "cat.json", server.url, {"tiny-x4": ("tiny_x4.pth", body)})
    monkeypatch.setenv("SRGAN_MODEL_CATALOGUE", str(path))
    entry = catalogue.catalogue().get("tiny-x4")
    assert entry is not None
    return entry


@pytest.fixture
def server() -> Iterator[Server]:
    with serving({"/tiny_x4.pth": BODY}) as s:
        yield s


def _leftovers(cache: Path) -> list[str]:
    """Files in the cache other than lock files (which stay, empty, by design)."""
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) \
        if cache.exists() else []


def test_a_name_is_downloaded_once_checked_and_loaded(
        cache: Path, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _use(tmp_path, monkeypatch, server)
    model = load("tiny-x4")
    assert (model.name, model.architecture, model.scale) == ("tiny-x4", "Compact", 4)
    assert model.source == "catalogue:tiny-x4" and model.card["license"] == "CC0-1.0"
    assert (cache / "tiny_x4.pth").read_bytes() == BODY
    assert _leftovers(cache) == ["tiny_x4.pth"]  # no partial left
    assert "downloading model tiny-x4" in capsys.readouterr().err
    load("TINY-X4")  # cached: any case, no second request
    assert server.requests("/tiny_x4.pth") == [None]


def test_a_wrong_hash_is_refused_and_nothing_is_cached(
        cache: Path, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(tmp_path, monkeypatch, server, body=TWIN)  # the catalogue expects another file
    with pytest.raises(ModelError, match="the download is corrupt .*invalid hash") as info:
        load("tiny-x4")
    msg = str(info.value)
    assert "\n" not in msg and f"{server.url}/tiny_x4.pth" in msg
    assert str(cache / "tiny_x4.pth") in msg
    assert _leftovers(cache) == []


def test_a_broken_transfer_resumes_with_a_range_request(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serving({"/tiny_x4.pth": BODY}, Behaviour(drop_first={"/tiny_x4.pth"})) as server:
        entry = _use(tmp_path, monkeypatch, server)
        assert catalogue.fetch(entry).read_bytes() == BODY
        ranges = server.requests("/tiny_x4.pth")
    assert ranges[0] is None and ranges[1] == f"bytes={len(BODY) // 2}-" and len(ranges) == 2


def test_a_partial_file_of_an_earlier_run_is_resumed(
        cache: Path, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _use(tmp_path, monkeypatch, server)
    cache.mkdir()
    download.partial_path(cache / "tiny_x4.pth").write_bytes(BODY[:1000])  # an interrupted run
    assert catalogue.fetch(entry).read_bytes() == BODY
    assert server.requests("/tiny_x4.pth") == ["bytes=1000-"]


def test_a_server_that_ignores_range_starts_again(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serving({"/tiny_x4.pth": BODY}, Behaviour(ignore_range=True)) as server:
        entry = _use(tmp_path, monkeypatch, server)
        cache.mkdir()
        download.partial_path(cache / "tiny_x4.pth").write_bytes(b"junk" * 100)
        assert catalogue.fetch(entry).read_bytes() == BODY


def test_a_redirect_is_followed(cache: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    behaviour = Behaviour(redirects={"/tiny_x4.pth": "/storage/blob-123"})
    with serving({"/storage/blob-123": BODY}, behaviour) as server:
        entry = _use(tmp_path, monkeypatch, server)
        assert catalogue.fetch(entry).read_bytes() == BODY
        assert server.requests("/storage/blob-123") == [None]


def test_a_server_error_is_one_line_and_exit_5(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from srgan_cli.cli.app import main

    with serving({}, Behaviour(errors={"/tiny_x4.pth": 503})) as server:
        _use(tmp_path, monkeypatch, server)
        with pytest.raises(SystemExit) as info:
            main(["models", "pull", "tiny-x4"])
    assert info.value.code == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert "HTTP Error 503" in err[-1] and f"{server.url}/tiny_x4.pth" in err[-1]
    assert _leftovers(cache) == []


@pytest.mark.parametrize("how", ["env", "flag"])
def test_offline_never_downloads_and_says_where_to_put_the_file(
        how: str, cache: Path, server: Server, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _use(tmp_path, monkeypatch, server)
    if how == "env":
        monkeypatch.setenv("SRGAN_OFFLINE", "1")
    with pytest.raises(ModelError, match="downloads are off") as info:
        catalogue.fetch(entry, no_download=how == "flag")
    msg = str(info.value)
    assert f"{server.url}/tiny_x4.pth" in msg and str(cache / "tiny_x4.pth") in msg
    assert "\n" not in msg and server.requests("/tiny_x4.pth") == []
    cache.mkdir()
    (cache / "tiny_x4.pth").write_bytes(BODY)  # placed by hand, as the message says
    assert catalogue.fetch(entry, no_download=True) == cache / "tiny_x4.pth"
    (cache / "tiny_x4.pth").write_bytes(TWIN)  # a wrong file is refused, not loaded
    with pytest.raises(ModelError, match="is corrupt"):
        catalogue.fetch(entry, no_download=True)
    assert server.requests("/tiny_x4.pth") == []


def test_the_mirror_serves_the_same_names(cache: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with serving({}, Behaviour(errors={"/tiny_x4.pth": 500})) as origin, \
            serving({"/mirror/tiny_x4.pth": BODY}) as mirror:
        entry = _use(tmp_path, monkeypatch, origin)
        monkeypatch.setenv("SRGAN_MODEL_MIRROR", f"{mirror.url}/mirror/")
        assert catalogue.fetch(entry).read_bytes() == BODY
        assert origin.requests("/tiny_x4.pth") == []  # the mirror alone is asked
        assert mirror.requests("/mirror/tiny_x4.pth") == [None]
    share = tmp_path / "share"  # a folder works as a mirror too
    share.mkdir()
    (share / "tiny_x4.pth").write_bytes(BODY)
    (cache / "tiny_x4.pth").unlink()
    monkeypatch.setenv("SRGAN_MODEL_MIRROR", str(share))
    assert catalogue.fetch(entry).read_bytes() == BODY


_CHILD = """
import sys, time
from srgan_cli.models import catalogue
t = time.monotonic()
path = catalogue.fetch(catalogue.catalogue().get("tiny-x4"))
print(path, path.stat().st_size)
"""


@pytest.mark.slow
def test_two_processes_download_once(cache: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # a slow body (about 1 s) so that the second process starts while the first downloads
    slow = Behaviour(slow=1.0 / (len(BODY) // 4096 + 1))
    with serving({"/tiny_x4.pth": BODY}, slow) as server:
        cat = catalogue_file(tmp_path / "cat.json", server.url,
                             {"tiny-x4": ("tiny_x4.pth", BODY)})
        env = child_env(SRGAN_MODEL_CATALOGUE=str(cat), SRGAN_MODEL_CACHE=str(cache),
                        PYTHONPATH=str(ROOT))
        env.pop("SRGAN_MODEL_MIRROR", None)
        env.pop("SRGAN_OFFLINE", None)
        procs = [subprocess.Popen([sys.executable, "-c", _CHILD], env=env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert server.requests("/tiny_x4.pth") == [None]  # one download for both
    for out, _ in outs:
        assert out.split() == [str(cache / "tiny_x4.pth"), str(len(BODY))]
    assert hashlib.sha256((cache / "tiny_x4.pth").read_bytes()).hexdigest() == \
        hashlib.sha256(BODY).hexdigest()
    assert any("waiting for another download" in err for _, err in outs)
