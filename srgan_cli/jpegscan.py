"""Does a baseline JPEG's scan hold every MCU its frame declares?

libjpeg (and so Pillow) decodes a scan that ends early (a marker where data should be) without
any error: the missing blocks come out flat mid-gray. `scan_is_short` counts the MCUs the
entropy-coded data really holds, with a small Huffman decoder, so that `imaging` can refuse
such a file like a truncated one. Only baseline/extended Huffman JPEGs with a single scan are
checked (progressive and arithmetic-coded files return None: not checked), and only the part
after the last restart marker is decoded; `max_blocks` bounds the work.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

_SOF_CHECKED = (0xC0, 0xC1)
_SOF_OTHER = frozenset(range(0xC2, 0xD0)) - {0xC4, 0xC8, 0xCC}
_RST = frozenset(range(0xD0, 0xD8))


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


def _huffman(seg: bytes, tables: dict[tuple[int, int], dict[tuple[int, int], int]]) -> None:
    i = 0
    while i + 17 <= len(seg):
        tc_th = seg[i]
        counts = seg[i + 1:i + 17]
        symbols = seg[i + 17:i + 17 + sum(counts)]
        if len(symbols) < sum(counts):
            return  # a damaged table: the scan check then finds no table and gives up
        codes: dict[tuple[int, int], int] = {}
        code = k = 0
        for length, n in enumerate(counts, start=1):
            for _ in range(n):
                codes[(length, code)] = symbols[k]
                code += 1
                k += 1
            code <<= 1
        tables[(tc_th >> 4, tc_th & 15)] = codes
        i += 17 + sum(counts)


def _symbol(bits: _Bits, codes: dict[tuple[int, int], int]) -> int:
    code = 0
    for length in range(1, 17):
        code = (code << 1) | bits.take(1)
        sym = codes.get((length, code))
        if sym is not None:
            return sym
    raise _OutOfData  # not a valid code: treat as the end of good data


def _block(bits: _Bits, dc: dict[tuple[int, int], int], ac: dict[tuple[int, int], int]) -> None:
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
    tables: dict[tuple[int, int], dict[tuple[int, int], int]] = {}
    comps: list[_Component] = []
    width = height = restart = 0
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
        if marker in _SOF_CHECKED and len(seg) >= 6:
            height, width = struct.unpack(">HH", seg[1:5])
            comps = [_Component(seg[6 + 3 * c], seg[7 + 3 * c] >> 4, seg[7 + 3 * c] & 15)
                     for c in range(seg[5]) if 9 + 3 * c <= len(seg)]
        elif marker == 0xC4:
            _huffman(seg, tables)
        elif marker == 0xDD and len(seg) >= 2:
            (restart,) = struct.unpack(">H", seg[:2])
        elif marker == 0xDA:
            return _check_scan(seg, data[i + 2 + length:], comps, tables, width, height,
                               restart, max_blocks)
        i += 2 + length
    return None


def _check_scan(
    seg: bytes, rest: bytes, comps: list[_Component],
    tables: dict[tuple[int, int], dict[tuple[int, int], int]],
    width: int, height: int, restart: int, max_blocks: int,
) -> bool | None:
    if not comps or width == 0 or height == 0 or not seg:
        return None
    by_id = {c.cid: c for c in comps}
    hmax, vmax = max(c.h for c in comps), max(c.v for c in comps)
    try:
        scan = [(by_id[seg[1 + 2 * k]], tables[(0, seg[2 + 2 * k] >> 4)],
                 tables[(1, seg[2 + 2 * k] & 15)]) for k in range(seg[0])]
    except (KeyError, IndexError):
        return None
    if len(scan) == 1:  # non-interleaved: one block per MCU
        c = scan[0][0]
        cw = math.ceil(math.ceil(width * c.h / hmax) / 8)
        ch = math.ceil(math.ceil(height * c.v / vmax) / 8)
        total, units = cw * ch, [(scan[0][1], scan[0][2])]
    else:
        total = math.ceil(width / (8 * hmax)) * math.ceil(height / (8 * vmax))
        units = [(dc, ac) for c, dc, ac in scan for _ in range(c.h * c.v)]
    entropy, restarts = _unstuff(rest)
    done = restarts * restart if restart else 0
    wanted = total - done if restart else total
    if wanted <= 0:
        return False
    if wanted * len(units) > max_blocks:
        return None
    bits = _Bits(entropy)
    count = 0
    try:
        while count < wanted:
            for dc, ac in units:
                _block(bits, dc, ac)
            count += 1
    except _OutOfData:
        pass
    if restart:
        count = min(count, restart)
    return done + count < total
