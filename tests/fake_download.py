"""A fake transport for on-demand downloads: the real download code (`models.download`: lock,
partial file, SHA-256 check, atomic publish) runs; only its `urlopen` answers from memory.
Shared by the tests of on-demand weights (VGG19, LPIPS backbones); the catalogue's tests use a
real loopback HTTP server instead (tests/loopback.py)."""

from __future__ import annotations

import email.message
import hashlib
import io

import pytest
import torch

from srgan_cli.models import download
from srgan_cli.models.pretrained import WeightsFile


class _Response:
    """What urlopen returns: a readable body with a Content-Length header."""

    status = 200

    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)
        self._size = len(body)
        self.headers = self.info()

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def info(self) -> email.message.Message:
        headers = email.message.Message()
        headers["Content-Length"] = str(self._size)
        return headers

    def read(self, n: int = -1) -> bytes:
        return self._body.read(n)


def serve(monkeypatch: pytest.MonkeyPatch, answer: bytes | BaseException) -> list[str]:
    """The download's urlopen answers every request with `answer` (a body, or an exception it
    raises); returns the list of URLs asked, filled as requests come."""
    asked: list[str] = []

    def urlopen(req: object, *_a: object, **_k: object) -> _Response:
        asked.append(getattr(req, "full_url", str(req)))
        if isinstance(answer, BaseException):
            raise answer
        return _Response(answer)

    monkeypatch.setattr(download, "urlopen", urlopen)
    return asked


def state_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def hash_named(what: str, stem: str, body: bytes) -> WeightsFile:
    """A weights file named like torchvision's, `<stem>-<sha256 prefix>.pth`, for `body`."""
    return WeightsFile(what, f"{stem}-{hashlib.sha256(body).hexdigest()[:8]}.pth")
