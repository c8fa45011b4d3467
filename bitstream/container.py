"""The .imf container (docs/FORMAT.md is the specification; keep the two in step).

    file   = preamble chunk* footer
    preamble = "IMFC" major:u8 minor:u8
    chunk  = type:4 ASCII  length:u32le  payload  crc32(type + payload):u32le
    footer = "IMFX" index_offset:u64le crc32(previous 12 bytes):u32le

Chunks: HEAD (once, first), GRUP (one keyframe group), AUDH/AUDP (audio), INDX (last).
Unknown chunk types are skipped, so minor versions can add them; a different major
version is refused. Written as a stream: memory does not grow with the video's length.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgpack

from ..atomic import commit, discard, partial_path
from .header import NO_KEYFRAME, pack_header, unpack_header, validate_header
from .records import (  # re-exported: the container's records are read and written through this module
    MAX_GROUP_FRAMES as MAX_GROUP_FRAMES,
)
from .records import (
    AudioPacketList as AudioPacketList,
)
from .records import (
    ChunkInfo as ChunkInfo,
)
from .records import (
    FileBytes as FileBytes,
)
from .records import (
    FormatError as FormatError,
)
from .records import (
    GroupList as GroupList,
)
from .records import (
    GroupRecord as GroupRecord,
)
from .records import (
    ImfFile as ImfFile,
)
from .records import (
    IndexEntry as IndexEntry,
)
from .records import (
    check_audio_header,
    decode_audio_packets,
)
from .varint import VarintError, encode_varint

MAGIC = b"IMFC"
FOOTER_MAGIC = b"IMFX"
MAJOR_VERSION = 1
MINOR_VERSION = 4  # the newest this build writes and reads; files without a base layer are written as 1.0
BASE_LAYER_MINOR = 1
NO_KEYFRAME_MINOR = 2  # hybrid groups without a keyframe picture (HEAD keyframe_codec "none")
MOTION_FILL_MINOR = 3  # skipped frames drawn by motion (HEAD base_fill "motion")
TIMED_FILL_MINOR = 4  # ... at times the encoder sends in each group's tokens (HEAD base_fill "timed")
PREAMBLE_SIZE = 6
CHUNK_OVERHEAD = 12  # type, length, crc
FOOTER_SIZE = 16
UNKNOWN_FRAMES = 0xFFFFFFFF
MAX_CHUNK = 1 << 30


def _chunk(kind: bytes, payload: bytes) -> bytes:
    if len(kind) != 4:
        raise ValueError("chunk type must be 4 bytes")
    return kind + struct.pack("<I", len(payload)) + payload + struct.pack("<I", zlib.crc32(kind + payload))


class Writer:
    """Stream an .imf file: header, then groups and audio as they come, then the index.

    Writes under a temporary name (imfcodec.atomic) and renames on `close()`; `abort()` (or an
    exception in a `with` block) removes the partial file, so an interrupted encode leaves no output.
    """

    def __init__(self, path: str | Path, header: dict[str, Any]) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"{self.path.parent}: output folder does not exist")
        self.tmp = partial_path(self.path)
        self.header_bytes = pack_header(header)
        self.with_base = "base_size" in header
        self.without_keyframes = header.get("keyframe_codec") == NO_KEYFRAME
        if self.without_keyframes and not self.with_base:
            raise ValueError("only a file with a base layer can have groups without a keyframe picture")
        minor = NO_KEYFRAME_MINOR if self.without_keyframes else BASE_LAYER_MINOR if self.with_base else 0
        if self.with_base and header.get("base_fill") == "motion":
            minor = MOTION_FILL_MINOR
        if self.with_base and header.get("base_fill") == "timed":
            minor = TIMED_FILL_MINOR
        self.file: IO[bytes] = open(self.tmp, "wb")
        self.file.write(MAGIC + bytes([MAJOR_VERSION, minor]))
        self.head_offset = self.file.tell()
        self.file.write(_chunk(b"HEAD", struct.pack("<I", UNKNOWN_FRAMES) + self.header_bytes))
        self.index: list[IndexEntry] = []
        self.frames = 0

    def write_group(self, group: GroupRecord) -> None:
        if group.frame_count > MAX_GROUP_FRAMES:
            raise ValueError(f"a group holds at most {MAX_GROUP_FRAMES} frames")
        if group.first_frame != self.frames:
            raise ValueError(f"group starts at frame {group.first_frame}, expected {self.frames}")
        if (group.base is not None) != self.with_base:
            raise ValueError("a group's base layer must match the header's base_size")
        if (len(group.keyframe) == 0) != self.without_keyframes:
            raise ValueError("a group has a keyframe picture exactly when the header names a keyframe codec")
        offset = self.file.tell()
        self.file.write(_chunk(b"GRUP", group.encode()))
        base_bytes = len(group.base) if group.base is not None else 0
        self.index.append(IndexEntry(group.first_frame, group.frame_count, offset, len(group.keyframe), len(group.tokens), base_bytes))
        self.frames += group.frame_count

    def write_audio_header(self, meta: dict[str, Any]) -> int:
        """Returns the bytes written, chunk framing included."""
        return self.file.write(_chunk(b"AUDH", msgpack.packb(meta, use_bin_type=True)))

    def write_audio_packets(self, packets: list[tuple[int, int, bytes]]) -> int:
        """packets: (pts, duration, data) in the audio stream's time base; pts non-negative.
        Returns the bytes written, chunk framing included."""
        parts = [encode_varint(len(packets))]
        for pts, duration, data in packets:
            parts += [encode_varint(pts), encode_varint(duration), encode_varint(len(data)), data]
        return self.file.write(_chunk(b"AUDP", b"".join(parts)))

    def close(self) -> int:
        """Finish the file and give it its name; returns its size in bytes."""
        index_offset = self.file.tell()
        entries = [[e.first_frame, e.frame_count, e.offset, e.keyframe_bytes, e.token_bytes] for e in self.index]
        if self.with_base:
            for entry, e in zip(entries, self.index):
                entry.append(e.base_bytes)
        self.file.write(_chunk(b"INDX", msgpack.packb({"frames": self.frames, "groups": entries})))
        tail = FOOTER_MAGIC + struct.pack("<Q", index_offset)
        self.file.write(tail + struct.pack("<I", zlib.crc32(tail)))
        # Now the frame count is known: patch it into HEAD and refresh HEAD's CRC.
        self.file.seek(self.head_offset)
        self.file.write(_chunk(b"HEAD", struct.pack("<I", self.frames) + self.header_bytes))
        self.file.seek(0, os.SEEK_END)
        size = self.file.tell()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        commit(self.tmp, self.path)
        return size

    def abort(self) -> None:
        try:
            if not self.file.closed:
                self.file.close()
        except OSError:  # a full disk fails the close's flush too; the file goes either way
            pass
        discard(self.tmp)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class Reader:
    """Read and validate an .imf file. Every problem raises FormatError with the chunk and offset."""

    def __init__(self, path: str | Path, resilient: bool = False) -> None:
        """`resilient`: skip a damaged chunk (and stop at a truncation) instead of raising;
        each is listed in ImfFile.damage. A damaged HEAD is still an error."""
        self.path = Path(path)
        self.resilient = resilient
        self.damage: list[str] = []
        self.index_offset: int | None = None  # from the footer, once chunks() reaches it
        if not self.path.is_file():
            raise FormatError(f"{self.path}: no such file")
        # Read when needed, not all at once: a group's bytes are read when it is decoded, so
        # memory does not grow with the file.
        try:
            self.data = FileBytes(self.path)
        except OSError as exc:
            raise FormatError(f"{self.path}: cannot read: {exc.strerror}") from None
        if len(self.data) < PREAMBLE_SIZE or self.data[:4] != MAGIC:
            raise FormatError(f"{self.path}: not an .imf file (bad magic)")
        self.version = (self.data[4], self.data[5])
        if self.version[0] != MAJOR_VERSION:
            raise FormatError(
                f"{self.path}: unsupported .imf version {self.version[0]}.{self.version[1]} (this build reads {MAJOR_VERSION}.x)"
            )

    def chunks(self) -> Iterator[tuple[str, int, bytes]]:
        """(type, offset, payload) of every chunk, CRC-checked, up to the footer."""
        pos, n = PREAMBLE_SIZE, 0
        end = len(self.data)
        while pos < end:
            if self.data[pos : pos + 4] == FOOTER_MAGIC and end - pos == FOOTER_SIZE:
                footer = self.data[pos : pos + FOOTER_SIZE]
                (self.index_offset,) = struct.unpack_from("<Q", footer, 4)
                (crc,) = struct.unpack_from("<I", footer, 12)
                if zlib.crc32(footer[:12]) != crc:
                    self._damaged(f"{self.path}: CRC mismatch in the footer at byte offset {pos}")
                return
            if end - pos < 8:
                self._damaged(f"{self.path}: truncated file: chunk #{n} header cut at byte {pos}")
                return
            head = self.data[pos : pos + 8]
            kind = head[:4]
            (length,) = struct.unpack_from("<I", head, 4)
            name = kind.decode("ascii", "replace")
            if length > MAX_CHUNK or pos + CHUNK_OVERHEAD + length > end:
                self._damaged(f"{self.path}: truncated file: chunk #{n} ({name}) at byte {pos} needs {length} bytes")
                return
            framed = self.data[pos + 8 : pos + CHUNK_OVERHEAD + length]
            payload = framed[:length]
            (crc,) = struct.unpack_from("<I", framed, length)
            if zlib.crc32(kind + payload) != crc:
                self._damaged(f"{self.path}: CRC mismatch in chunk #{n} ({name}) at byte offset {pos}")
            else:
                yield name, pos, payload
            pos += CHUNK_OVERHEAD + length
            n += 1
        raise FormatError(f"{self.path}: truncated file: no footer (the encode did not finish)")

    def _damaged(self, message: str) -> None:
        """Raise, or with `resilient` note and go on (a damaged HEAD raises regardless)."""
        if not self.resilient:
            raise FormatError(message)
        self.damage.append(message)

    def read_all(self) -> ImfFile:
        result: ImfFile | None = None
        groups, audio = GroupList(), AudioPacketList()
        index_at: int | None = None
        for kind, offset, payload in self.chunks():
            if result is not None:
                result.chunks.append(ChunkInfo(kind, offset, len(payload)))
            try:
                if kind == "HEAD":
                    if result is not None:
                        raise FormatError(f"{self.path}: second HEAD chunk at byte {offset}")
                    (frames,) = struct.unpack_from("<I", payload, 0)
                    header = unpack_header(payload[4:])
                    validate_header(header)
                    groups = GroupList(self.data, with_base=self.version[1] >= BASE_LAYER_MINOR)
                    audio = AudioPacketList(self.data)
                    result = ImfFile(header=header, frame_count=frames, version=self.version, groups=groups, audio_packets=audio)
                    result.chunks.append(ChunkInfo(kind, offset, len(payload)))
                elif result is None:
                    raise FormatError(f"{self.path}: first chunk is {kind}, not HEAD")
                elif kind == "GRUP":
                    group = GroupRecord.decode(payload, with_base=self.version[1] >= BASE_LAYER_MINOR)
                    expected = groups.frames_covered()
                    # Resilient reading lets a group follow a gap (a damaged group skipped), never overlap.
                    if group.first_frame != expected and not (self.resilient and group.first_frame > expected):
                        raise FormatError(
                            f"{self.path}: group at byte offset {offset} starts at frame {group.first_frame}, expected {expected}"
                        )
                    groups.add(offset + 8, len(payload), group)
                elif kind == "AUDH":
                    result.audio_header = check_audio_header(msgpack.unpackb(payload, raw=False))
                elif kind == "AUDP":
                    audio.add(offset + 8, len(payload), len(decode_audio_packets(payload)))
                elif kind == "INDX":
                    idx = msgpack.unpackb(payload, raw=False)
                    result.index = [IndexEntry(*e) for e in idx["groups"]]
                    index_at = offset
                # Anything else is a chunk from a newer minor version: skipped.
            except FormatError as exc:
                if result is None or kind == "HEAD":
                    raise
                self._damaged(str(exc))
            except (VarintError, ValueError, KeyError, TypeError, struct.error, msgpack.ExtraData) as exc:
                message = f"{self.path}: malformed {kind} chunk at byte offset {offset}: {exc}"
                if result is None or kind == "HEAD":
                    raise FormatError(message) from None
                self._damaged(message)
        if result is None:
            raise FormatError(f"{self.path}: no HEAD chunk")
        if index_at is None:
            self._damaged(f"{self.path}: truncated file: no index")
        elif index_at != self.index_offset:
            self._damaged(f"{self.path}: the footer points to byte {self.index_offset}, the index is at {index_at}")
        counted = groups.frames_covered()
        if result.frame_count != counted:
            self._damaged(f"{self.path}: header says {result.frame_count} frames, groups hold {counted}")
            if result.frame_count < counted or result.frame_count > counted + MAX_GROUP_FRAMES:
                result.frame_count = counted  # an unpatched or forged count: what the groups hold
        result.file_size = len(self.data)
        result.damage = list(self.damage)
        return result
