"""The records the .imf container is made of, as code sees them: a keyframe group, an index
entry, a chunk's place, the lazily decoded group and audio lists of a file read from disk,
and the checks on the audio chunks (docs/FORMAT.md)."""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from ..errors import ImfcodecError
from .varint import VarintError, decode_varint, encode_varint

MAX_GROUP_FRAMES = 1 << 16  # frames in one keyframe group: bounds what a group's count can make a reader allocate


class FileBytes:
    """A file's bytes, read when sliced: `data[a:b]` is bytes, `len(data)` the file's size
    when it was opened. Only what is sliced is ever in memory, so a reader holds the whole
    file in none. A file that shrinks while it is read (another program truncating it) is
    a FormatError, not the crash a memory map would give."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "rb")  # noqa: SIM115 (open as long as the file's groups may be read; closed with this object)
        self._size = os.fstat(self._file.fileno()).st_size

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> bytes: ...
    def __getitem__(self, i: int | slice) -> int | bytes:
        if isinstance(i, int):
            return self[i : i + 1][0]
        start, stop, _ = i.indices(self._size)
        if stop <= start:
            return b""
        self._file.seek(start)
        data = self._file.read(stop - start)
        if len(data) != stop - start:
            raise FormatError(f"{self.path}: the file shrank while it was being read")
        return data

    def __del__(self) -> None:
        if hasattr(self, "_file"):
            self._file.close()


Buffer = bytes | FileBytes


class FormatError(ImfcodecError):
    """The file is not a valid .imf file; the message says where and why, in one line."""


@dataclass
class GroupRecord:
    """One keyframe group: the keyframe picture, the entropy-coded tokens of the frames after
    it and (1.1, hybrid files) the base layer of all its frames."""

    first_frame: int
    frame_count: int  # including the keyframe
    keyframe: bytes
    tokens: bytes  # one range-coded stream of (frame_count - 1) token residuals
    base: bytes | None = None  # 1.1: the group's frames at B×B, one AV1 GOP (imfcodec.codec.hybrid.base_layer)

    def encode(self) -> bytes:
        parts = [encode_varint(self.first_frame), encode_varint(self.frame_count)]
        fields = [self.keyframe, self.tokens] + ([] if self.base is None else [self.base])
        for data in fields:
            parts += [encode_varint(len(data)), data]
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes, with_base: bool = False) -> GroupRecord:
        first, pos = decode_varint(payload, 0)
        count, pos = decode_varint(payload, pos)
        fields = []
        for _ in range(3 if with_base else 2):
            n, pos = decode_varint(payload, pos)
            if pos + n > len(payload):
                raise VarintError("group record lengths do not add up")
            fields.append(bytes(payload[pos : pos + n]))
            pos += n
        if pos != len(payload) or count < 1:
            raise VarintError("group record lengths do not add up")
        if count > MAX_GROUP_FRAMES:
            raise VarintError(f"group of {count} frames (at most {MAX_GROUP_FRAMES})")
        return cls(first, count, fields[0], fields[1], fields[2] if with_base else None)


@dataclass
class IndexEntry:
    first_frame: int
    frame_count: int
    offset: int  # byte offset of the GRUP chunk
    keyframe_bytes: int
    token_bytes: int
    base_bytes: int = 0  # 1.1


@dataclass
class ChunkInfo:
    type: str
    offset: int
    length: int


class GroupList(Sequence[GroupRecord]):
    """A file's groups, each read from the file when it is asked for: what
    stays in memory is seven numbers a group (where, which frames, and the sizes of its
    parts), so a long file decodes group by group in the memory of one group. The chunks
    were CRC-checked and parsed once when the file was read; re-reading parses the same bytes."""

    def __init__(self, data: Buffer = b"", with_base: bool = False) -> None:
        self._data = data
        self._with_base = with_base
        self._spans: list[tuple[int, int, int, int]] = []  # payload offset, length, first frame, frame count
        self._parts = [0, 0, 0]  # keyframe, token and base bytes of all groups

    def add(self, offset: int, length: int, group: GroupRecord) -> None:
        self._spans.append((offset, length, group.first_frame, group.frame_count))
        for i, part in enumerate((group.keyframe, group.tokens, group.base or b"")):
            self._parts[i] += len(part)

    def part_bytes(self) -> tuple[int, int, int]:
        """(keyframe, token, base) bytes summed over the groups, as parsed: what `info`
        reports without reading the groups again."""
        return self._parts[0], self._parts[1], self._parts[2]

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, i: int) -> GroupRecord: ...
    @overload
    def __getitem__(self, i: slice) -> list[GroupRecord]: ...
    def __getitem__(self, i: int | slice) -> GroupRecord | list[GroupRecord]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        offset, length, _, _ = self._spans[i]
        return GroupRecord.decode(bytes(self._data[offset : offset + length]), self._with_base)

    def first_frames(self) -> list[int]:
        """Each group's first frame (the keyframes' positions), without reading the groups."""
        return [span[2] for span in self._spans]

    def frames_covered(self) -> int:
        """The frame after the last group's (the groups' total when they are contiguous)."""
        return self._spans[-1][2] + self._spans[-1][3] if self._spans else 0


class AudioPacketList(Sequence[tuple[int, int, bytes]]):
    """A file's audio packets (pts, duration, data), read from its AUDP chunks when iterated:
    in memory, two numbers a chunk instead of a tuple a packet (13 MB for 20 minutes)."""

    def __init__(self, data: Buffer = b"") -> None:
        self._data = data
        self._chunks: list[tuple[int, int]] = []  # payload offset, length
        self._ends: list[int] = []  # packets up to and including each chunk

    def add(self, offset: int, length: int, count: int) -> None:
        self._chunks.append((offset, length))
        self._ends.append((self._ends[-1] if self._ends else 0) + count)

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        for offset, length in self._chunks:
            yield from decode_audio_packets(bytes(self._data[offset : offset + length]))

    @overload
    def __getitem__(self, i: int) -> tuple[int, int, bytes]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[int, int, bytes]]: ...
    def __getitem__(self, i: int | slice) -> tuple[int, int, bytes] | list[tuple[int, int, bytes]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError("audio packet index out of range")
        i %= len(self)
        c = bisect.bisect_right(self._ends, i)
        offset, length = self._chunks[c]
        return decode_audio_packets(bytes(self._data[offset : offset + length]))[i - (self._ends[c - 1] if c else 0)]


@dataclass
class ImfFile:
    """What Reader.read_all returns: the header, groups, audio and the byte accounting."""

    header: dict[str, Any]
    frame_count: int
    version: tuple[int, int]
    groups: GroupList = field(default_factory=GroupList)
    index: list[IndexEntry] = field(default_factory=list)
    audio_header: dict[str, Any] | None = None
    audio_packets: Sequence[tuple[int, int, bytes]] = field(default_factory=AudioPacketList)  # (pts, duration, data)
    chunks: list[ChunkInfo] = field(default_factory=list)
    file_size: int = 0
    # Reader(resilient=True) only: what was damaged and skipped, one line each.
    damage: list[str] = field(default_factory=list)


def decode_audio_packets(payload: bytes) -> list[tuple[int, int, bytes]]:
    count, pos = decode_varint(payload, 0)
    packets = []
    for _ in range(count):
        pts, pos = decode_varint(payload, pos)
        duration, pos = decode_varint(payload, pos)
        size, pos = decode_varint(payload, pos)
        data = payload[pos : pos + size]
        if len(data) != size:
            raise VarintError("audio packet runs past its chunk")
        packets.append((pts, duration, bytes(data)))
        pos += size
    return packets


def check_audio_header(meta: Any) -> dict[str, Any]:
    """AUDH must be a map with the fields the decoder feeds to the audio decoder, typed."""
    if not isinstance(meta, dict):
        raise ValueError("audio header is not a map")
    checks: dict[str, Callable[[Any], bool]] = {
        "codec": lambda v: v == "opus",
        "sample_rate": lambda v: isinstance(v, int) and not isinstance(v, bool) and 8000 <= v <= 192000,
        "layout": lambda v: v in ("mono", "stereo"),
        "extradata": lambda v: isinstance(v, bytes),
    }
    for name, check in checks.items():
        if name in meta and not check(meta[name]):
            raise ValueError(f"audio header field {name!r} is {meta[name]!r}")
    for name in ("codec", "sample_rate", "layout"):
        if name not in meta:
            raise ValueError(f"audio header has no {name!r}")
    return meta
