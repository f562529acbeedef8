"""Tiny valid media files made from scratch: grey JPEG frames and an empty MP4 movie."""

from __future__ import annotations

import struct


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def _huffman_table(table_class: int, symbols: list[int]) -> bytes:
    """A DHT payload giving ``symbols`` codes of one length (1 bit for one symbol, else enough bits)."""
    length = 1 if len(symbols) == 1 else max(2, (len(symbols)).bit_length())
    counts = [0] * 16
    counts[length - 1] = len(symbols)
    return bytes([table_class << 4]) + bytes(counts) + bytes(symbols)


class _Bits:
    def __init__(self) -> None:
        self.data = bytearray()
        self.acc = 0
        self.count = 0

    def put(self, value: int, width: int) -> None:
        for shift in range(width - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> shift) & 1)
            self.count += 1
            if self.count == 8:
                self.data.append(self.acc)
                if self.acc == 0xFF:
                    self.data.append(0)  # byte stuffing
                self.acc = self.count = 0

    def flush(self) -> bytes:
        if self.count:
            self.put((1 << (8 - self.count)) - 1, 8 - self.count)  # pad with 1 bits
        return bytes(self.data)


def jpeg(width: int = 64, height: int = 48, grey: int = 128) -> bytes:
    """A baseline greyscale JPEG of one flat ``grey`` level (sizes rounded up to multiples of 8)."""
    width, height = max(8, (width + 7) // 8 * 8), max(8, (height + 7) // 8 * 8)
    dc = 8 * (max(0, min(255, grey)) - 128)  # the DC coefficient of a flat 8x8 block, quantiser 1
    category = abs(dc).bit_length()
    symbols = sorted({category, 0})
    codes = {symbol: index for index, symbol in enumerate(symbols)}
    code_length = 1 if len(symbols) == 1 else 2
    bits = _Bits()
    blocks = (width // 8) * (height // 8)
    for block in range(blocks):
        diff = dc if block == 0 else 0
        size = abs(diff).bit_length()
        bits.put(codes[size], code_length)
        if size:
            bits.put(diff if diff > 0 else diff + (1 << size) - 1, size)
        bits.put(0, 1)  # end of block: the only AC symbol
    out = b"\xff\xd8"
    out += _segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    out += _segment(0xFFDB, b"\x00" + bytes([1] * 64))
    out += _segment(0xFFC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    out += _segment(0xFFC4, _huffman_table(0, symbols))
    out += _segment(0xFFC4, _huffman_table(1, [0]))
    out += _segment(0xFFDA, b"\x01\x01\x00\x00\x3f\x00")
    return out + bits.flush() + b"\xff\xd9"


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 8) + kind + payload


def mp4() -> bytes:
    """An ISO base media file with a movie header and no tracks: valid, zero length."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = _box(
        b"mvhd",
        struct.pack(">I", 0)  # version 0, no flags
        + struct.pack(">IIII", 0, 0, 1000, 0)  # created, modified, timescale, duration
        + struct.pack(">IH", 0x10000, 0x100)  # rate 1.0, volume 1.0
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 1),  # next track id
    )
    return ftyp + _box(b"moov", mvhd)
