"""Does a JPEG's first scan hold every MCU its frame declares?

libjpeg (and so Pillow) decodes a scan that ends early (a marker where data should be) without
any error: the missing blocks come out flat mid-gray. `scan_is_short` tells, so that `imaging`
can refuse such a file like a truncated one, in two ways:

- a bound that needs no decoding, for any size: every block costs at least 2 bits of a
  baseline scan (a DC code and an AC code) and 1 bit of a progressive file's first DC scan, so
  fewer entropy-coded bytes than that is short for certain;
- for baseline/extended Huffman scans of up to `max_blocks` blocks, an exact count of the MCUs
  the data holds, with a small Huffman decoder.

Only the part after the last restart marker is read (earlier intervals are taken as whole).
Arithmetic-coded and lossless files, a progressive file that passes the bound and a large
baseline scan that passes it return None: not checked.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

_SOF_CHECKED = (0xC0, 0xC1)
_SOF_PROGRESSIVE = 0xC2
_SOF_OTHER = frozenset(range(0xC3, 0xD0)) - {0xC4, 0xC8, 0xCC}
_RST = frozenset(range(0xD0, 0xD8))
_Codes = dict[tuple[int, int], int]  # (code length, code) -> symbol


@dataclass(frozen=True)
class _Component:
    cid: int
    h: int
    v: int


class _OutOfData(Exception):
    pass


class _Bits:
    """MSB-first bits of entropy-coded data (byte stuffing already removed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.acc = 0
        self.n = 0

    def take(self, n: int) -> int:
        while self.n < n:
            if self.pos >= len(self.data):
                raise _OutOfData
            self.acc = (self.acc << 8) | self.data[self.pos]
            self.pos += 1
            self.n += 8
        self.n -= n
        out = self.acc >> self.n
        self.acc &= (1 << self.n) - 1
        return out


def _huffman(seg: bytes, tables: dict[tuple[int, int], _Codes]) -> None:
    i = 0
    while i + 17 <= len(seg):
        tc_th = seg[i]
        counts = seg[i + 1:i + 17]
        symbols = seg[i + 17:i + 17 + sum(counts)]
        if len(symbols) < sum(counts):
            return  # a damaged table: the scan check then finds no table and gives up
        codes: _Codes = {}
        code = k = 0
        for length, n in enumerate(counts, start=1):
            for _ in range(n):
                codes[(length, code)] = symbols[k]
                code += 1
                k += 1
            code <<= 1
        tables[(tc_th >> 4, tc_th & 15)] = codes
        i += 17 + sum(counts)


def _symbol(bits: _Bits, codes: _Codes) -> int:
    code = 0
    for length in range(1, 17):
        code = (code << 1) | bits.take(1)
        sym = codes.get((length, code))
        if sym is not None:
            return sym
    raise _OutOfData  # not a valid code: treat as the end of good data


def _block(bits: _Bits, dc: _Codes, ac: _Codes) -> None:
    s = _symbol(bits, dc)
    bits.take(s)
    k = 1
    while k < 64:
        rs = _symbol(bits, ac)
        r, s = rs >> 4, rs & 15
        if s:
            bits.take(s)
            k += r + 1
        elif r == 15:
            k += 16
        else:
            break


def _unstuff(data: bytes) -> tuple[bytes, int]:
    """(the entropy-coded bytes after the last restart marker, number of restart markers)."""
    out = bytearray()
    restarts = 0
    i = 0
    while i < len(data):
        b = data[i]
        if b != 0xFF:
            out.append(b)
            i += 1
            continue
        nxt = data[i + 1] if i + 1 < len(data) else None
        if nxt == 0x00:
            out.append(0xFF)
            i += 2
        elif nxt is not None and nxt in _RST:
            restarts += 1
            out.clear()
            i += 2
        elif nxt == 0xFF:  # fill byte
            i += 1
        else:
            break  # any other marker ends the scan
    return bytes(out), restarts


def scan_is_short(data: bytes, *, max_blocks: int = 60_000) -> bool | None:
    """True when the JPEG `data` holds fewer MCUs than its frame needs; None when not checked."""
    tables: dict[tuple[int, int], _Codes] = {}
    comps: list[_Component] = []
    width = height = restart = 0
    progressive = False
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in _RST or marker == 0x01:
            i += 2
            continue
        if marker == 0xD9:
            return None  # no scan
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        seg = data[i + 4:i + 2 + length]
        if marker in _SOF_OTHER:
            return None
        if (marker in _SOF_CHECKED or marker == _SOF_PROGRESSIVE) and len(seg) >= 6:
            progressive = marker == _SOF_PROGRESSIVE
            height, width = struct.unpack(">HH", seg[1:5])
            comps = [_Component(seg[6 + 3 * c], seg[7 + 3 * c] >> 4, seg[7 + 3 * c] & 15)
                     for c in range(seg[5]) if 9 + 3 * c <= len(seg)]
        elif marker == 0xC4:
            _huffman(seg, tables)
        elif marker == 0xDD and len(seg) >= 2:
            (restart,) = struct.unpack(">H", seg[:2])
        elif marker == 0xDA:
            return _check_scan(seg, data[i + 2 + length:], comps, tables, width, height,
                               restart, max_blocks, progressive)
        i += 2 + length
    return None


def _check_scan(
    seg: bytes, rest: bytes, comps: list[_Component],
    tables: dict[tuple[int, int], _Codes],
    width: int, height: int, restart: int, max_blocks: int, progressive: bool,
) -> bool | None:
    if not comps or width == 0 or height == 0 or not seg:
        return None
    by_id = {c.cid: c for c in comps}
    n = seg[0]
    try:
        members = [by_id[seg[1 + 2 * k]] for k in range(n)]
        ss, se, ah = seg[1 + 2 * n], seg[2 + 2 * n], seg[3 + 2 * n] >> 4
    except (KeyError, IndexError):
        return None
    if progressive and (ss, se, ah) != (0, 0, 0):
        return None  # not a first DC scan: no bound known
    hmax, vmax = max(c.h for c in comps), max(c.v for c in comps)
    if n == 1:  # non-interleaved: one block per MCU
        c = members[0]
        total = (math.ceil(math.ceil(width * c.h / hmax) / 8)
                 * math.ceil(math.ceil(height * c.v / vmax) / 8))
        blocks_per_mcu = 1
    else:
        total = math.ceil(width / (8 * hmax)) * math.ceil(height / (8 * vmax))
        blocks_per_mcu = sum(c.h * c.v for c in members)
    entropy, restarts = _unstuff(rest)
    done = restarts * restart if restart else 0
    wanted = total - done if restart else total
    if wanted <= 0:
        return False
    if restart and wanted > restart:
        return True  # the scan ends inside an interval that cannot hold what is left
    if len(entropy) * 8 < wanted * blocks_per_mcu * (1 if progressive else 2):
        return True
    if progressive or wanted * blocks_per_mcu > max_blocks:
        return None
    try:
        units = [(tables[(0, seg[2 + 2 * k] >> 4)], tables[(1, seg[2 + 2 * k] & 15)])
                 for k in range(n) for _ in range(1 if n == 1 else members[k].h * members[k].v)]
    except KeyError:
        return None
    return done + _count_mcus(entropy, units, wanted) < total


def _count_mcus(entropy: bytes, units: list[tuple[_Codes, _Codes]], wanted: int) -> int:
    """How many of `wanted` MCUs (each one block per entry of `units`) `entropy` holds."""
    bits = _Bits(entropy)
    count = 0
    try:
        while count < wanted:
            for dc, ac in units:
                _block(bits, dc, ac)
            count += 1
    except _OutOfData:
        pass
    return count
