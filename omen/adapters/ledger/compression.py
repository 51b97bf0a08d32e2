"""zstd compression of sealed segments, in independent frames.

A compressed segment (signals-NNNNNN.wal.zst) is a sequence of standard zstd frames, each
holding FRAME_BYTES of the plain segment (the last one less), each with its content size and
checksum. `zstd -d` reads it; so does any reader that decompresses frame by frame. Frames are
independent, so a damaged frame costs only its own bytes and a reader could seek by frame.
"""

from __future__ import annotations

import zstandard

from omen.errors import OmenError

FRAME_BYTES = 1024 * 1024
LEVEL = 3


class CompressionError(OmenError):
    def __init__(self, offset: int, reason: str):
        self.offset = offset
        super().__init__(reason)


def compress_frames(data: bytes, level: int = LEVEL, frame_bytes: int = FRAME_BYTES) -> bytes:
    """`data` as independent zstd frames of `frame_bytes` each."""
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
    view = memoryview(data)
    return b"".join(
        compressor.compress(view[start : start + frame_bytes])
        for start in range(0, len(view), frame_bytes)
    ) or compressor.compress(b"")


def decompress_frames(raw: bytes) -> bytes:
    """Concatenated frames back to the plain bytes; CompressionError names the bad frame."""
    decompressor = zstandard.ZstdDecompressor()
    out: list[bytes] = []
    view = memoryview(raw)
    offset = 0
    while offset < len(view):
        reader = decompressor.decompressobj()
        try:
            out.append(reader.decompress(view[offset:]))
        except zstandard.ZstdError as exc:
            raise CompressionError(offset, f"zstd frame does not decompress: {exc}") from None
        if not reader.eof:
            raise CompressionError(offset, "zstd frame is truncated")
        offset = len(view) - len(reader.unused_data)
    return b"".join(out)
