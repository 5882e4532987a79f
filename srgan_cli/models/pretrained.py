"""ImageNet weights of torchvision networks: from torchvision's cache, else downloaded on demand.

SRGAN's content loss (VGG19) and the LPIPS backbones (AlexNet, VGG16) use the very files that
torchvision itself downloads, in the same place (``$TORCH_HOME/hub/checkpoints``), so one download
serves both tools. The download is `download.fetch`, the one the catalogue models use (progress
bar on stderr, lock, resume, the SHA-256 prefix in the file name checked before publishing);
``offline=True`` or ``SRGAN_OFFLINE=1`` forbids it.
When the file cannot be had the error is one line: the URL, the target path, and the option that
gives a local copy instead."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from srgan_cli import messages
from srgan_cli.errors import SrganError
from srgan_cli.options import offline

_HASH = re.compile(r"-([a-f0-9]+)\.")  # torch.hub.HASH_REGEX: the sha256 prefix in a file name
BASE_URL = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class WeightsFile:
    """One torchvision weights file: what it is (for messages) and its file name."""

    what: str  # e.g. "VGG19 ImageNet weights"
    file: str  # e.g. "vgg19-dcbb9e9d.pth"

    @property
    def url(self) -> str:
        return BASE_URL + self.file


VGG19 = WeightsFile("VGG19 ImageNet weights", "vgg19-dcbb9e9d.pth")
ALEXNET = WeightsFile("AlexNet ImageNet weights", "alexnet-owt-7be5be79.pth")
VGG16 = WeightsFile("VGG16 ImageNet weights", "vgg16-397923af.pth")


def cache_dir() -> Path:
    """torchvision's weights folder (honours TORCH_HOME)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch(
    weights: WeightsFile, *, error: type[SrganError], purpose: str, option: str = "",
    no_download: bool = False,
) -> Path:
    """The cached file of `weights`, downloaded first when absent and downloads are allowed.

    `error` is the error type raised when the file cannot be had (its message names the URL,
    the target path and `option`, a way to give a local file instead, if any); `purpose` says
    what the weights are for. The download is `download.fetch`'s, as for catalogue models."""
    from srgan_cli.models.download import Download
    from srgan_cli.models.download import fetch as fetch_file

    target = cache_dir() / weights.file
    head = (f"{weights.what} are needed {purpose} and were not found: download {weights.url} "
            f"to {target}" + (f" (or pass {messages.option(option, 'PATH')})" if option else ""))
    match = _HASH.search(weights.file)
    return fetch_file(Download(weights.what, (weights.url,), target,
                               sha256=match.group(1) if match else ""),
                      error=error, head=head, offline=offline(no_download))
