"""The catalogue: well-known SR models people fetch by name (`--model realesrgan-x4plus`).

The facts live as data in ``catalogue.json`` beside this module (shipped as package data): per
model its names and aliases, architecture, scale, purpose, licence, author, file name, byte
size, SHA-256, download URLs, where those facts were read (`source`), and the PSNR/SSIM its
authors publish (`published`) or this project measured (`measured`), each with its protocol
and source. A user catalogue file in the same format ($SRGAN_MODEL_CATALOGUE) adds entries or
replaces those of the same name, for teams with their own model registry.

Names are matched case-insensitively. A catalogue model is fetched on first use into
`options.model_cache_dir()` by `download.fetch` (size and SHA-256 checked before the file is
ever loaded, resumable, locked, atomic; offline it says where to put the file); the mirror
($SRGAN_MODEL_MIRROR) serves the same file names with the same hashes.

Torch-free: `srgan models` lists and describes the catalogue without importing torch.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from srgan_cli.errors import ConfigError, ModelError
from srgan_cli.options import model_cache_dir, model_mirror, offline, user_catalogue

FORMAT = "srgan-cli-catalogue/1"
PURPOSES = ("photo", "anime", "general", "denoise")
DATASETS = ("set5", "set14", "b100", "urban100", "manga109")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SCHEMES = ("https://", "http://", "file:")  # the hash makes any transport safe; ours use https
_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors", ".onnx")


@dataclass(frozen=True)
class Score:
    """PSNR (dB) / SSIM of a model on one benchmark set at its scale, with the protocol and
    the source; `measured` marks a score this project measured rather than one published."""

    dataset: str
    psnr: float | None
    ssim: float | None
    protocol: str
    source: str
    measured: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "psnr": self.psnr, "ssim": self.ssim,
                "protocol": self.protocol, "source": self.source, "measured": self.measured}


@dataclass(frozen=True)
class Entry:
    """One catalogue model (see the module notes for the fields' meaning)."""

    name: str
    scale: int
    architecture: str
    purpose: tuple[str, ...]
    license: str
    author: str
    file: str
    bytes: int
    sha256: str
    urls: tuple[str, ...]
    source: str
    aliases: tuple[str, ...] = ()
    title: str = ""
    variant: str = ""
    date: str = ""
    description: str = ""
    denoise_twin: str | None = None
    scores: tuple[Score, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def published(self, dataset: str) -> Score | None:
        """The published score on `dataset` (case-insensitive), if the authors give one."""
        return next((s for s in self.scores if not s.measured
                     and s.dataset == dataset.lower()), None)

    def card(self) -> dict[str, Any]:
        """The fields a loaded model's card carries (`srgan models FILE`, eval reports)."""
        return {"catalogue": self.name, "license": self.license, "author": self.author,
                "sha256": self.sha256, "url": self.urls[0]}

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "aliases": list(self.aliases), "title": self.title,
            "architecture": self.architecture, "variant": self.variant, "scale": self.scale,
            "purpose": list(self.purpose), "license": self.license, "author": self.author,
            "date": self.date, "description": self.description, "file": self.file,
            "bytes": self.bytes, "sha256": self.sha256, "urls": list(self.urls),
            "source": self.source, "denoise_twin": self.denoise_twin,
            "scores": [s.as_json() for s in self.scores],
        }


class Catalogue:
    """The entries, looked up by name or alias in any case."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = tuple(entries)
        # file names too ("RealESRGAN_x4plus.pth" when no such file is here); names win
        self._by_name = {e.file.lower(): e for e in self.entries}
        self._by_name.update({n.lower(): e for e in self.entries for n in e.names})

    def get(self, name: str) -> Entry | None:
        return self._by_name.get(name.strip().lower())

    def __iter__(self) -> Any:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


# ----------------------------------------------------------------------------- parsing


def _text(raw: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    return value


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {key!r} must be a list of strings")
    return tuple(value)


def _score(raw: Any, where: str, measured: bool) -> Score:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a score must be an object")
    dataset = _text(raw, "dataset", where).lower()
    values = []
    for key in ("psnr", "ssim"):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ConfigError(f"{where}: score {key!r} must be a number")
        values.append(None if v is None else float(v))
    return Score(dataset, values[0], values[1], _text(raw, "protocol", where),
                 _text(raw, "source", where), measured)


def parse_entry(raw: Any, where: str) -> Entry:
    """One entry of a catalogue file; ConfigError (one line) for a missing or bad field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each model must be an object")
    name = _text(raw, "name", where)
    where = f"{where}: model {name!r}"
    scale = raw.get("scale")
    size = raw.get("bytes")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"{where}: 'scale' must be a positive integer")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"{where}: 'bytes' must be a positive integer (the file's size)")
    sha256 = _text(raw, "sha256", where).lower()
    if not _SHA256.fullmatch(sha256):
        raise ConfigError(f"{where}: 'sha256' must be 64 hexadecimal digits")
    urls = _strings(raw, "urls", where)
    if not urls or not all(u.startswith(_SCHEMES) for u in urls):
        raise ConfigError(f"{where}: 'urls' must be one or more https:// (or http://, file:) "
                          "URLs")
    file = _text(raw, "file", where)
    if Path(file).name != file or not file.lower().endswith(_SUFFIXES):
        raise ConfigError(f"{where}: 'file' must be a bare file name ending in "
                          f"{', '.join(_SUFFIXES)}")
    purpose = tuple(p.lower() for p in _strings(raw, "purpose", where))
    scores = [_score(s, where, False) for s in raw.get("published", [])]
    scores += [_score(s, where, True) for s in raw.get("measured", [])]
    twin = raw.get("denoise_twin")
    return Entry(
        name=name, scale=scale, architecture=_text(raw, "architecture", where),
        purpose=purpose, license=_text(raw, "license", where),
        author=_text(raw, "author", where), file=file, bytes=size, sha256=sha256, urls=urls,
        source=_text(raw, "source", where), aliases=_strings(raw, "aliases", where),
        title=_text(raw, "title", where, ""), variant=_text(raw, "variant", where, ""),
        date=_text(raw, "date", where, ""), description=_text(raw, "description", where, ""),
        denoise_twin=twin if isinstance(twin, str) and twin else None, scores=tuple(scores))


def parse(doc: Any, where: str) -> list[Entry]:
    """The entries of a catalogue document; ConfigError for a bad document, a bad entry, or a
    name or alias given twice (case-insensitively)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT \
            or not isinstance(doc.get("models"), list):
        raise ConfigError(f"{where}: not a model catalogue (expected {{\"format\": "
                          f"\"{FORMAT}\", \"models\": [...]}})")
    entries = [parse_entry(raw, where) for raw in doc["models"]]
    seen: dict[str, str] = {}
    for e in entries:
        for n in e.names:
            if n.lower() in seen:
                raise ConfigError(f"{where}: the name {n!r} is given twice (models "
                                  f"{seen[n.lower()]!r} and {e.name!r})")
            seen[n.lower()] = e.name
    return entries


def read_file(path: Path) -> list[Entry]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the model catalogue ({e.strerror or e})") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: the model catalogue is not valid JSON ({e.msg}, line "
                          f"{e.lineno})") from e
    return parse(doc, str(path))


@functools.cache
def builtin() -> tuple[Entry, ...]:
    """The catalogue shipped with the package."""
    text = resources.files(__package__).joinpath("catalogue.json").read_text(encoding="utf-8")
    return tuple(parse(json.loads(text), "srgan_cli/models/catalogue.json"))


def merge(base: Iterable[Entry], extra: Iterable[Entry]) -> list[Entry]:
    """`base` with `extra` added; an extra entry replaces every base entry that shares one of
    its names or aliases."""
    extra = list(extra)
    taken = {n.lower() for e in extra for n in e.names}
    return [e for e in base if not taken & {n.lower() for n in e.names}] + extra


def catalogue() -> Catalogue:
    """The built-in catalogue, plus the user catalogue file when one is set."""
    entries: list[Entry] = list(builtin())
    user = user_catalogue()
    if user is not None:
        entries = merge(entries, read_file(user))
    return Catalogue(entries)


# ----------------------------------------------------------------------------- files


def suggestion(spec: str) -> str | None:
    """"did you mean ...?" with the catalogue names closest to `spec`, if any are close."""
    import difflib

    names = [n for e in catalogue() for n in e.names]
    close = difflib.get_close_matches(spec, names, n=3, cutoff=0.75)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[c] for c in difflib.get_close_matches(spec.lower(), list(lowered),
                                                               n=3, cutoff=0.75)]
    return f"catalogue models with a close name: {', '.join(close)}" if close else None


def lookup(spec: str) -> Entry | None:
    """The catalogue entry `spec` names, or None when `spec` is an existing path, a bundled
    model name, or no catalogue name (files and bundled models come first)."""
    from srgan_cli.models.bundled import bundled_path

    if not spec or "/" in spec or "\\" in spec or Path(spec).expanduser().exists():
        return None
    try:
        if bundled_path(spec).is_file():
            return None
    except (ModelError, ValueError, OSError):
        pass
    return catalogue().get(spec)


def cached_path(entry: Entry) -> Path:
    """Where `entry`'s file is kept once fetched (it may not be there yet)."""
    return model_cache_dir() / entry.file


def is_cached(entry: Entry) -> bool:
    """Whether the file is in the cache with its catalogue size (the hash is checked on use)."""
    p = cached_path(entry)
    try:
        return p.is_file() and p.stat().st_size == entry.bytes
    except OSError:
        return False


def urls(entry: Entry) -> tuple[str, ...]:
    """Where the file is fetched from: the mirror alone when one is set, else the entry's URLs."""
    mirror = model_mirror()
    if mirror is None:
        return entry.urls
    if "://" not in mirror:  # a folder
        return (Path(mirror).expanduser().resolve().joinpath(entry.file).as_uri(),)
    return (mirror.rstrip("/") + "/" + entry.file,)


def download_of(entry: Entry) -> Any:
    """The `download.Download` of `entry` (its URLs, cache path, size and hash)."""
    from srgan_cli.models.download import Download

    return Download(what=f"model {entry.name}", urls=urls(entry), target=cached_path(entry),
                    sha256=entry.sha256, size=entry.bytes)


def fetch(entry: Entry, *, no_download: bool = False, quiet: bool = False) -> Path:
    """The cached file of `entry`, checked (size, SHA-256), downloaded first when absent.

    ModelError (exit 5, one line naming the URL and the path to place the file at) when it
    cannot be had: offline (`no_download` or SRGAN_OFFLINE), a failed or corrupt download."""
    from srgan_cli.models import download

    d = download_of(entry)
    hint = f"{d.urls[0]} to {d.target}"
    return download.fetch(
        d, error=ModelError, offline=offline(no_download), quiet=quiet, verify_cached=True,
        head=f"model {entry.name} is not cached: download {hint}")


def remove(entry: Entry) -> list[Path]:
    """Delete `entry`'s cached file and any partial download; the paths removed."""
    from srgan_cli.models.download import partial_path

    removed = []
    for p in (cached_path(entry), partial_path(cached_path(entry))):
        try:
            p.unlink()
        except FileNotFoundError:
            continue
        removed.append(p)
    return removed


def compare_line(entry: Entry, dataset: str, scale: int, psnr: float, ssim: float) -> str | None:
    """`measured vs published` for one eval result, or None when nothing is published for it:
    "dat-x4 urban100 x4: PSNR 27.80 (published 27.87, -0.07 dB), SSIM ... [source]"."""
    pub = entry.published(dataset)
    if pub is None or scale != entry.scale:
        return None
    parts = []
    if pub.psnr is not None:
        parts.append(f"PSNR {psnr:.2f} (published {pub.psnr:.2f}, {psnr - pub.psnr:+.2f} dB)")
    if pub.ssim is not None:
        parts.append(f"SSIM {ssim:.4f} (published {pub.ssim:.4f}, {ssim - pub.ssim:+.4f})")
    return (f"{entry.name} {dataset} x{scale}: {', '.join(parts)}; published protocol: "
            f"{pub.protocol}; source: {pub.source}")
