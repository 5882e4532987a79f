"""The one download path for weights fetched on demand (catalogue models, torchvision weights).

`fetch` gives the checked file or one line saying why not:
- offline (``--offline`` / ``SRGAN_OFFLINE=1``) it never downloads, and the error names the URL
  and the path to place the file at;
- a lock (``.<file>.lock`` beside the target) lets one process download while another waits
  and then uses the file;
- the bytes go to ``.<file>.partial`` and a broken transfer resumes from there with an HTTP
  Range request (also in a later run); a server that ignores Range starts it again;
- the size and SHA-256 (or, for torchvision's files, the SHA-256 prefix in the name) are
  checked before the file is published, through `fileio.atomic_write`, onto its name: a failed,
  corrupt or interrupted download leaves nothing that loads;
- the URLs are tried in order (HTTP redirects are followed); the progress bar goes to stderr
  when it is a terminal.

Torch-free (urllib only).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from srgan_cli.errors import SrganError
from srgan_cli.fileio import atomic_write
from srgan_cli.messages import one_line, option
from srgan_cli.options import OFFLINE_ENV

CHUNK = 1 << 16
TIMEOUT_S = 60.0
ATTEMPTS = 5  # requests per URL while each one brings more bytes
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

urlopen: Callable[..., Any] = urllib.request.urlopen  # tests may replace the transport


@dataclass(frozen=True)
class Download:
    """A file to fetch: `what` it is (for messages), its `urls` (tried in order), the `target`
    path, its `sha256` (64 hex digits, or a prefix of them) and its `size` in bytes if known."""

    what: str
    urls: tuple[str, ...]
    target: Path
    sha256: str
    size: int | None = None


class _Corrupt(Exception):
    """The bytes arrived but are not the file (size or hash)."""


class _Dropped(Exception):
    """The connection ended before the body did."""


def partial_path(target: Path) -> Path:
    """Where the bytes of `target` collect until they are checked (hidden, never loadable)."""
    return target.with_name(f".{target.name}.partial")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check(d: Download, path: Path) -> None:
    """_Corrupt unless `path` has `d`'s size and SHA-256 (a prefix matches its start)."""
    size = path.stat().st_size
    if d.size is not None and size != d.size:
        raise _Corrupt(f"invalid size: {size} bytes, expected {d.size}")
    digest = file_sha256(path)
    if not digest.startswith(d.sha256.lower()):
        raise _Corrupt(f"invalid hash: sha256 {digest}, expected {d.sha256}")


def fetch(d: Download, *, error: type[SrganError], head: str, offline: bool,
          quiet: bool = False, verify_cached: bool = False) -> Path:
    """`d.target`, downloaded first when absent (see the module notes).

    `head` starts every error message (it names the file, its URL and where it goes); `error`
    is the error type raised. `verify_cached` checks the size and hash of a file already there
    too (a bad one is replaced when downloads are allowed)."""
    target = d.target
    if _usable(d, target, verify_cached, offline, error, head):
        return target
    if offline:
        raise error(f"{head}; downloads are off ({option('offline')} or {OFFLINE_ENV}=1)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target, d.what, quiet):
            if _usable(d, target, verify_cached, offline, error, head):
                return target  # another process fetched it while this one waited
            _download(d, quiet)
    except _Corrupt as e:
        raise error(f"{head}; the download is corrupt ({e})") from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise error(f"{head}; the download failed ({one_line(e, limit=160)})") from None
    return target


def _usable(d: Download, target: Path, verify: bool, offline: bool, error: type[SrganError],
            head: str) -> bool:
    """Whether `target` is there (and, with `verify`, has the right size and hash). A bad file
    is removed when it can be fetched again, else refused."""
    if not target.is_file():
        return False
    if not verify:
        return True
    try:
        check(d, target)
    except _Corrupt as e:
        if offline:
            raise error(f"{head}: the cached file {target} is corrupt ({e}); remove it and "
                        "fetch it again") from None
        target.unlink(missing_ok=True)
        return False
    return True


@contextlib.contextmanager
def _locked(target: Path, what: str, quiet: bool) -> Iterator[None]:
    """An exclusive lock on ``.<file>.lock`` for the time of the download."""
    path = target.with_name(f".{target.name}.lock")
    with open(path, "a+b") as f:
        if not _try_lock(f, block=False):
            if not quiet:
                print(f"waiting for another download of {what} ({target})", file=sys.stderr,
                      flush=True)
            _try_lock(f, block=True)
        yield  # the lock goes with the file when it is closed


def _try_lock(f: BinaryIO, *, block: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        import time

        while True:
            try:
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
                return True
            except OSError:
                if not block:
                    return False
                time.sleep(0.2)
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _download(d: Download, quiet: bool) -> None:
    """Fill the partial file from the first URL that serves it, check it, publish it."""
    part = partial_path(d.target)
    last: BaseException | None = None
    for url in d.urls:
        if not quiet:
            print(f"downloading {d.what}: {url} -> {d.target}", file=sys.stderr, flush=True)
        try:
            _fill(url, part, d.size, quiet)
            break
        except (OSError, ValueError, http.client.HTTPException, _Dropped) as e:
            last = e
    else:
        assert last is not None
        if isinstance(last, _Dropped):
            raise OSError(str(last))
        raise last
    try:
        check(d, part)
    except _Corrupt:
        part.unlink(missing_ok=True)
        raise
    with atomic_write(d.target) as tmp:
        os.replace(part, tmp)


def _fill(url: str, part: Path, size: int | None, quiet: bool) -> None:
    """Bring `part` to the whole body of `url`, resuming with Range requests while each
    request brings more bytes (at most ATTEMPTS in a row without the end)."""
    attempts = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have == size:
            return
        if size is not None and have > size:
            part.unlink()
            have = 0
        attempts += 1
        try:
            _request(url, part, have, size, quiet)
            return
        except _Dropped:
            grown = (part.stat().st_size if part.exists() else 0) > have
            if attempts >= ATTEMPTS or not grown:
                raise
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # our partial is not a prefix the server knows
                part.unlink()
                continue
            raise


def _request(url: str, part: Path, have: int, size: int | None, quiet: bool) -> None:
    headers = {"User-Agent": "srgan-cli", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as resp:
        status = getattr(resp, "status", None) or resp.getcode() or 200
        start = 0
        if status == 206:
            m = _CONTENT_RANGE.fullmatch((resp.headers.get("Content-Range") or "").strip())
            start = int(m.group(1)) if m else -1
            if start != have:  # not the range asked for: start again
                raise _Dropped(f"{url}: the server sent bytes from {start}, not {have}")
        length = resp.headers.get("Content-Length")
        end = start + int(length) if length and length.isdigit() else size
        mode = "ab" if start else "wb"
        got = start
        with open(part, mode) as out, _progress(part.name, end, start, quiet) as advance:
            while True:
                try:
                    block = resp.read(CHUNK)
                except (http.client.IncompleteRead, ConnectionError, TimeoutError) as e:
                    raise _Dropped(f"{url}: the connection broke ({one_line(e)})") from None
                if not block:
                    break
                out.write(block)
                got += len(block)
                advance(len(block))
        if end is not None and got < end:
            raise _Dropped(f"{url}: the connection closed after {got} of {end} bytes")


@contextlib.contextmanager
def _progress(name: str, total: int | None, done: int, quiet: bool
              ) -> Iterator[Callable[[int], None]]:
    """A byte progress bar on stderr when it is a terminal; else nothing."""
    if quiet or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(name.strip(".").removesuffix(".partial"), total=total,
                            completed=done)
        yield lambda n: bar.advance(task, n)
