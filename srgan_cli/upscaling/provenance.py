"""Which model and options made an output, so that a re-run with another model never passes an
old output off as its own.

The recipe (model name, SHA-256 of its weights, the output factor, --tta, --alpha-upsampler
model) goes into each --json record and, unless --strip-metadata, into the output's EXIF
Software tag (PNG eXIf, JPEG, WebP, TIFF; BMP has no metadata). A batch re-run skips an
output that exists only when the output carries no recipe or the same one; another recipe is
refused (OutputError) until --overwrite."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli.errors import OutputError
from srgan_cli.messages import option, show_path
from srgan_cli.version import __version__

if TYPE_CHECKING:
    from srgan_cli.media.image_data import ImageData
    from srgan_cli.models.descriptor import ModelDescriptor

SOFTWARE_TAG = 0x0131  # EXIF/TIFF Software
_SOFTWARE = re.compile(r"srgan-cli \S+ \((.*)\)")


@dataclass(frozen=True)
class Provenance:
    """The model (name, SHA-256 of its weights: None for bicubic) and the recipe text."""

    model: str
    sha256: str | None
    recipe: str

    def software(self) -> str:
        """The EXIF Software text: 'srgan-cli VERSION (RECIPE)'."""
        return f"srgan-cli {__version__} ({self.recipe})"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.model, "sha256": self.sha256}


def of(model: ModelDescriptor, outscale: float | None, tta: bool,
       alpha_upsampler: str) -> Provenance:
    """The provenance of outputs that `model` makes with these options."""
    sha = weights_sha256(model)
    parts = [f"model {model.name}" + (f" sha256:{sha[:16]}" if sha else ""),
             f"x{outscale or model.scale:g}"]
    parts += ["tta"] if tta else []
    parts += ["alpha model"] if alpha_upsampler == "model" else []
    return Provenance(model.name, sha, "; ".join(parts))


def weights_sha256(model: ModelDescriptor) -> str | None:
    """The catalogue's hash of the model's file, else the SHA-256 of the file it was loaded
    from; None for a built-in model (bicubic)."""
    known = model.card.get("sha256")
    if isinstance(known, str) and known:
        return known.lower()
    path = Path(model.source.removeprefix("bundled:"))
    if model.source == "builtin" or not path.is_file():
        return None
    stat = path.stat()
    return _file_sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:  # size, mtime: the cache key
    from srgan_cli.models.download import file_sha256

    return file_sha256(path)


def stamped(img: ImageData, provenance: Provenance) -> ImageData:
    """`img` with the provenance in its EXIF Software tag (other EXIF tags kept)."""
    from srgan_cli.media.metadata import with_tag

    return dataclasses.replace(img, exif=with_tag(img.exif, SOFTWARE_TAG,
                                                  provenance.software()))


def recipe_of(path: Path) -> str | None:
    """The recipe an existing output carries, or None (no srgan Software tag, or unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            software = im.getexif().get(SOFTWARE_TAG)
    except Exception:  # not an image we can read: nothing to compare
        return None
    if isinstance(software, bytes):
        software = software.decode("latin-1")
    m = _SOFTWARE.fullmatch(software.strip()) if isinstance(software, str) else None
    return None if m is None else m.group(1)


def check_same_maker(path: Path, provenance: Provenance) -> None:
    """OutputError (exit 4) when the existing output `path` was made by another model or other
    options; an output without a recipe passes (kept, as before)."""
    theirs = recipe_of(path)
    if theirs is not None and theirs != provenance.recipe:
        raise OutputError(f"{show_path(path)}: made by another model or options ({theirs}); "
                          f"use {option('overwrite')} to redo it")
