"""File helpers shared by every module that writes or looks up files.

- ``atomic_write``: every file the tool writes (images, reports, model files, checkpoints, the
  decode cache, run logs) lands under a hidden temp name and is published onto its name only
  when complete, so an interrupted or failed write never leaves a torn file. Without
  ``overwrite`` the publish is no-clobber: of two writers racing for one name exactly one wins.
- ``check_target``: the one "can I write here" check, run before any heavy work.
- ``clean_stale_temps``: removes the temp files of writers that are gone (killed, crashed).
- ``not_a_regular_file``: why a path to read is no regular file (a FIFO, a device, a symlink
  loop ...), asked before anything opens it: opening a FIFO blocks until a writer comes.
- ``find_subdir``: dataset folders are matched case-insensitively (DIV2K, Set5, LR_bicubic, X4).
- ``torch_load_weights_only``: the one place pickles are read, always with ``weights_only=True``.

Temp names are ``.<name>.srg<pid>-<host><boot>-<random>.part``: hidden, not an image suffix
(so folder scans skip them), and saying which process on which machine and boot wrote them, so
that `clean_stale_temps` removes only those whose writer is provably gone. ``<name>`` is cut
and completed with a hash of the full name when needed, so that a temp name is never longer
than the longest name the folder allows (NAME_MAX bytes in UTF-8): any final name that fits,
fits its temp.

Disk full (ENOSPC, EDQUOT) anywhere in a write becomes ``OutputError("<file>: no space left
on device ...")`` with the previous file intact and the temp removed. Tests inject faults
through `fault_hook` (see there) or by raising inside the body.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import os
import re
import secrets
import socket
import stat
import sys
import warnings
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from srgan_cli.errors import OutputError, OutputExistsError, SrganError
from srgan_cli.messages import option, show_path

DEFAULT_NAME_MAX = 255  # bytes; used where the file system does not say
TEMP_SUFFIX = ".part"
_TEMP_RE = re.compile(
    r"\.(?P<name>.*)\.srg(?P<pid>\d+)-(?P<host>[0-9a-f]{6})(?P<boot>[0-9a-f]{6})-[0-9a-f]{8}"
    r"\.part", re.DOTALL)
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_LOW_SPACE = 1 << 20  # bytes: below this a write error without an errno is taken as disk full
_NO_RENAMEAT2 = frozenset({errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})
_NO_LINK = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK})
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1

fault_hook: Callable[[str, Path], None] | None = None
"""For tests only: when set, ``atomic_write`` calls ``fault_hook(stage, tmp)`` at the stages
"body" (the body has returned), "fsync" (before the temp is synced) and "publish" (before it
goes onto its name). Raising from it simulates a fault there, e.g. ``OSError(errno.ENOSPC)``."""


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_write(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a hidden temp path beside `path`; publish it onto `path` only if the body succeeds.

    The temp file (see the module notes for its name) is created with the usual umask
    permissions. With `overwrite` an existing `path` is replaced atomically; without it the
    publish fails with OutputError "exists" if `path` exists by then, even when another process
    created it a moment ago (exactly one of two racing writers wins). On any exception,
    KeyboardInterrupt included, the temp is deleted and an existing `path` is untouched; disk
    full becomes OutputError naming `path`, other errors are re-raised."""
    p = Path(path)
    tmp = _create_temp(p)
    try:
        yield tmp
        _fault("body", tmp)
        _fault("fsync", tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _fault("publish", tmp)
        _publish(tmp, p, overwrite=overwrite)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, Exception) and not isinstance(e, SrganError) and _disk_full(e, p):
            raise _disk_full_error(p) from e
        raise


def _fault(stage: str, tmp: Path) -> None:
    if fault_hook is not None:
        fault_hook(stage, tmp)


def _create_temp(p: Path) -> Path:
    name_max = _name_max(p.parent)
    while True:
        tmp = p.with_name(temp_name(p.name, name_max))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno in _DISK_FULL:
                raise _disk_full_error(p) from e
            raise
        os.close(fd)
        return tmp


def temp_name(name: str, name_max: int = DEFAULT_NAME_MAX) -> str:
    """A fresh temp name for the final file `name`, at most `name_max` bytes in UTF-8.

    ``.<name>.srg<pid>-<host><boot>-<random>.part``; a `name` too long for that keeps as many
    whole characters as fit before ``~<hash of name>``."""
    host, boot = _host_boot()
    tag = f".srg{os.getpid()}-{host}{boot}-{secrets.token_hex(4)}{TEMP_SUFFIX}"
    budget = name_max - 1 - len(tag)
    if _utf8_len(name) > budget:
        digest = "~" + hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        name = _cut_utf8(name, budget - len(digest)) + digest
        if _utf8_len(name) > budget:  # a file system with tiny names: the tag alone
            name = ""
    return f".{name}{tag}"


def temp_target(name: str) -> str | None:
    """The final name whose `atomic_write` temp file is called `name` (as `temp_name` cut it),
    None when `name` is no such temp."""
    m = _TEMP_RE.fullmatch(name)
    return None if m is None else m["name"]


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _cut_utf8(text: str, limit: int) -> str:
    """The longest prefix of whole characters of `text` that is at most `limit` bytes."""
    size = 0
    for i, ch in enumerate(text):
        size += _utf8_len(ch)
        if size > limit:
            return text[:i]
    return text


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), unknown folder
        return DEFAULT_NAME_MAX


@functools.cache
def _host_boot() -> tuple[str, str]:
    """Short tokens of this machine and of its current boot (empty boot id where unknown)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""

    def short(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()[:6]

    return short(socket.gethostname()), short(boot)


def _publish(tmp: Path, final: Path, *, overwrite: bool) -> None:
    """Move the finished `tmp` onto `final`; without `overwrite`, never replace a file.

    No-clobber publishing tries, in order: renameat2(RENAME_NOREPLACE) (Linux), link + unlink
    (POSIX file systems), and on file systems with neither (some FUSE, SMB and FAT mounts) a
    check for `final` followed by a rename, which a writer racing in that instant can beat."""
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        if _rename_noreplace(tmp, final):
            return
        try:
            os.link(tmp, final)
        except OSError as e:
            if isinstance(e, FileExistsError) or e.errno not in _NO_LINK:
                raise
            if os.path.lexists(final):
                raise FileExistsError(errno.EEXIST, "File exists", str(final)) from None
            os.replace(tmp, final)
            return
    except FileExistsError:
        raise OutputExistsError(f"{show_path(final)}: exists; use {option('overwrite')}") from None
    with contextlib.suppress(OSError):
        os.unlink(tmp)


@functools.cache
def _renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without renameat2 (glibc < 2.28, musl)
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _rename_noreplace(src: Path, dst: Path) -> bool:
    """rename(src, dst) failing with FileExistsError if dst exists; False when the system or
    the file system cannot do that (then nothing happened)."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _NO_RENAMEAT2:
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def _disk_full(exc: BaseException, path: Path) -> bool:
    """Whether a failed write failed because the disk (or quota) is full.

    Looks for ENOSPC/EDQUOT in the exception and its causes; writers that hide the errno
    (torch.save says "unexpected pos") are judged by the free space left in the folder."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in _DISK_FULL:
            return True
        if "no space left on device" in str(cur).lower():
            return True
        cur = cur.__cause__ or cur.__context__
    if isinstance(exc, OSError) and exc.errno is not None:
        return False  # an OS error that says what it is
    free = free_bytes(path.parent)
    return free is not None and free < _LOW_SPACE


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use in `folder`'s file system, None if unknown."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def _disk_full_error(p: Path) -> OutputError:
    return OutputError(
        f"{show_path(p)}: No space left on device (nothing written; an existing file is "
        "unchanged)")


# --------------------------------------------------------------------------- checks


def check_target(
    path: str | Path, *, overwrite: bool, kind: str = "output",
    suffixes: Collection[str] | None = None,
) -> Path:
    """Refuse, with one-line OutputError, a target that cannot be written; call before work.

    Checks, in order: the extension (one of `suffixes`, any case, when given), that the folder
    exists and is writable, that the target is not a folder, and (without `overwrite`) that it
    does not exist. `kind` names the output in messages ("image", "model file", ...)."""
    p = Path(path)
    shown = show_path(p)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        if len(suffixes) == 1:
            raise OutputError(f"{shown}: the {kind} must end in {next(iter(suffixes))}")
        found = f"'{show_path(p.suffix)}'" if p.suffix else "none"
        raise OutputError(f"{shown}: unknown output extension {found} "
                          f"(expected one of {', '.join(sorted(suffixes))})")
    folder = p.parent
    if not folder.is_dir():
        raise OutputError(f"{shown}: output folder {show_path(folder)} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: output folder {show_path(folder)} is not writable")
    if p.is_dir():
        raise OutputError(f"{shown}: is a directory, expected a {kind} file name")
    if not overwrite and os.path.lexists(p):
        raise OutputExistsError(f"{shown}: exists; use {option('overwrite')}")
    return p


# --------------------------------------------------------------------------- stale temps


def clean_stale_temps(folder: str | Path) -> list[Path]:
    """Remove the temp files of `atomic_write` in `folder` whose writer is gone; return them.

    A temp is removed only when it was written on this machine and either in an earlier boot
    or by a process that no longer exists; temps of live processes, of other machines (shared
    folders) and every other file are kept. Callers print "removed N stale temp file(s)"."""
    host, boot = _host_boot()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.fullmatch(entry.name)
        if m is None or m["host"] != host:
            continue
        if m["boot"] == boot and _alive(int(m["pid"])):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            os.unlink(entry.path)
        except OSError:  # gone already (another cleaner), or not ours to remove
            continue
        removed.append(Path(entry.path))
    return sorted(removed)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (when unsure: yes, so its temp is kept)."""
    if pid == os.getpid() or os.name == "nt":  # on Windows signal 0 is CTRL_C_EVENT
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


# --------------------------------------------------------------------------- reading


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def not_a_regular_file(path: str | Path) -> str | None:
    """None when `path` is a regular file (symlinks followed); else why not, for a message:
    "no such file", "symlink loop", "is a directory", "not a regular file (a FIFO)", ...

    Asks the file system only (stat), so it never blocks on a FIFO or a device: call it
    before opening a file to read."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "no such file"
        return f"cannot access ({e.strerror or e})"
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a file")
    return f"not a regular file ({kind})"



def find_subdir(folder: Path | None, *names: str) -> Path | None:
    """The sub-folder of `folder` named like one of `names` (case-insensitive, in that order)."""
    if folder is None or not folder.is_dir():
        return None
    subdirs = {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_dir()}
    for n in names:
        if n.lower() in subdirs:
            return subdirs[n.lower()]
    return None


def torch_load_weights_only(path: str | Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, torch's pickle notes silenced.

    Raises ``pickle.UnpicklingError`` for a pickle the safe loader refuses (nothing in it runs)
    and other exceptions for a truncated or garbage file; callers turn both into their error."""
    import torch

    with warnings.catch_warnings():  # e.g. "pickle protocol 4": noise for a CLI user
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)
