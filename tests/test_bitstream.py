"""bitstream/: varints, the container, and its errors. No torch here."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imfcodec.bitstream.container import FOOTER_SIZE, FormatError, GroupRecord, Reader, Writer
from imfcodec.bitstream.header import pack_header, unpack_header, validate_header
from imfcodec.bitstream.varint import VarintError, decode_varint, encode_varint

HEADER = {"model_id": "ab" * 32, "preset": "tiny", "size": 64, "fps_num": 25, "fps_den": 1, "quality": 3, "keyframe_codec": "av1"}


def write_sample(path: Path, groups: int = 3) -> Path:
    with Writer(path, HEADER) as w:
        for g in range(groups):
            w.write_group(GroupRecord(first_frame=g * 5, frame_count=5, keyframe=bytes([g]) * 40, tokens=bytes([g + 1]) * 8))
        w.write_audio_header({"codec": "opus", "sample_rate": 48000, "layout": "mono"})
        w.write_audio_packets([(0, 960, b"abc"), (960, 960, b"de")])
    return path


@given(st.integers(min_value=0, max_value=2**63))
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert decode_varint(data + b"\x00", 0) == (value, len(data))


def test_varint_rejects_truncation_and_negatives() -> None:
    with pytest.raises(VarintError):
        decode_varint(b"\x80\x80", 0)
    with pytest.raises(VarintError):
        encode_varint(-1)


def test_header_round_trip_is_compact() -> None:
    packed = pack_header(HEADER)
    assert unpack_header(packed) == HEADER
    assert len(packed) < 70  # short wire keys, raw model id


def test_container_round_trip(tmp_path: Path) -> None:
    imf = Reader(write_sample(tmp_path / "a.imf")).read_all()
    assert imf.header == HEADER
    assert imf.frame_count == 15
    assert [g.first_frame for g in imf.groups] == [0, 5, 10]
    assert imf.groups[1].keyframe == bytes([1]) * 40 and imf.groups[1].tokens == bytes([2]) * 8
    assert [e.first_frame for e in imf.index] == [0, 5, 10]
    assert list(imf.audio_packets) == [(0, 960, b"abc"), (960, 960, b"de")]
    assert imf.audio_packets[1] == (960, 960, b"de") and imf.audio_packets[-2] == (0, 960, b"abc")
    assert not list(tmp_path.glob("*partial*"))


def test_per_group_overhead_is_a_few_bytes(tmp_path: Path) -> None:
    one = write_sample(tmp_path / "one.imf", groups=1).stat().st_size
    many = write_sample(tmp_path / "many.imf", groups=11).stat().st_size
    payload = 48
    per_group = (many - one) / 10 - payload
    assert per_group <= 12 + 4 + 8  # chunk framing, varints, index entry


def test_aborted_writer_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "x.imf"
    with pytest.raises(RuntimeError):
        with Writer(out, HEADER) as w:
            w.write_group(GroupRecord(0, 1, b"k", b""))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_missing_output_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        Writer(tmp_path / "nope" / "x.imf", HEADER)


def test_not_an_imf_file(tmp_path: Path) -> None:
    p = tmp_path / "x.imf"
    p.write_bytes(b"RIFF1234WEBPVP8 ")
    with pytest.raises(FormatError, match="not an .imf file"):
        Reader(p)


def test_unsupported_major_version(tmp_path: Path) -> None:
    data = bytearray(write_sample(tmp_path / "a.imf").read_bytes())
    data[4] = 9
    (tmp_path / "b.imf").write_bytes(bytes(data))
    with pytest.raises(FormatError, match="unsupported .imf version 9.0"):
        Reader(tmp_path / "b.imf")


def test_crc_mismatch_names_chunk_and_offset(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "a.imf")
    imf = Reader(path).read_all()
    grup = [c for c in imf.chunks if c.type == "GRUP"][1]
    data = bytearray(path.read_bytes())
    data[grup.offset + 8 + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=rf"CRC mismatch in chunk #2 \(GRUP\) at byte offset {grup.offset}"):
        Reader(path).read_all()


@pytest.mark.parametrize("cut", [7, 30, 100, FOOTER_SIZE])
def test_truncated_file(tmp_path: Path, cut: int) -> None:
    path = write_sample(tmp_path / "a.imf")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut] if cut == FOOTER_SIZE else data[:cut])
    with pytest.raises(FormatError, match="truncated"):
        Reader(path).read_all()


def test_unknown_chunks_are_skipped(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "a.imf")
    data = path.read_bytes()
    extra = b"FUTR" + struct.pack("<I", 3) + b"xyz" + struct.pack("<I", zlib.crc32(b"FUTRxyz"))
    imf = Reader(path).read_all()
    first_grup = [c for c in imf.chunks if c.type == "GRUP"][0].offset
    # A writer that adds a chunk also moves the footer's index pointer by its size.
    (index_offset,) = struct.unpack_from("<Q", data, len(data) - FOOTER_SIZE + 4)
    tail = b"IMFX" + struct.pack("<Q", index_offset + len(extra))
    patched = data[:first_grup] + extra + data[first_grup:-FOOTER_SIZE] + tail + struct.pack("<I", zlib.crc32(tail))
    path.write_bytes(patched)
    again = Reader(path).read_all()
    assert again.frame_count == 15 and len(again.groups) == 3


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=6, max_value=10_000), st.integers(min_value=1, max_value=255))
def test_corruption_raises_format_error_only(tmp_path_factory: pytest.TempPathFactory, position: int, flip: int) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = write_sample(folder / "a.imf")
    data = bytearray(path.read_bytes())
    data[position % len(data)] ^= flip
    path.write_bytes(bytes(data))
    try:
        Reader(path).read_all()
    except FormatError:
        pass


def test_bitstream_does_not_import_torch() -> None:
    code = "import sys, imfcodec.bitstream, imfcodec.bitstream.entropy, imfcodec.bitstream.container; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version_1_1_carries_a_base_layer_and_1_0_is_unchanged(tmp_path: Path) -> None:
    plain = write_sample(tmp_path / "plain.imf")
    assert plain.read_bytes()[4:6] == bytes([1, 0])  # no base layer: written as 1.0, as before
    hybrid = tmp_path / "hybrid.imf"
    with Writer(hybrid, HEADER | {"base_size": 96, "base_crf": 50, "base_low_delay": False}) as w:
        for i in range(3):
            w.write_group(GroupRecord(5 * i, 5, bytes([1]) * 40, b"", bytes([3]) * (20 + i)))
    assert hybrid.read_bytes()[4:6] == bytes([1, 1])
    imf = Reader(hybrid).read_all()
    assert imf.version == (1, 1) and imf.header["base_size"] == 96
    assert [g.base for g in imf.groups] == [bytes([3]) * (20 + i) for i in range(3)]
    assert [e.base_bytes for e in imf.index] == [20, 21, 22]
    assert all(g.base is None for g in Reader(plain).read_all().groups)
    # A group whose layer does not match the header is a programming error, not a file.
    with pytest.raises(ValueError, match="base layer"), Writer(tmp_path / "x.imf", HEADER) as w:
        w.write_group(GroupRecord(0, 5, b"k", b"", b"base"))


def test_version_1_2_groups_without_a_keyframe_picture(tmp_path: Path) -> None:
    """HEAD keyframe_codec "none": every group's keyframe is empty and the file says 1.2;
    a 1.1 reader would fail on the empty keyframe, so only such files carry the new minor."""
    header = HEADER | {"base_size": 96, "base_crf": 50, "base_low_delay": False, "keyframe_codec": "none"}
    path = tmp_path / "k.imf"
    with Writer(path, header) as w:
        for i in range(2):
            w.write_group(GroupRecord(5 * i, 5, b"", b"", bytes([3]) * 30))
    assert path.read_bytes()[4:6] == bytes([1, 2])
    imf = Reader(path).read_all()
    assert imf.version == (1, 2) and [g.keyframe for g in imf.groups] == [b"", b""]
    assert [e.keyframe_bytes for e in imf.index] == [0, 0] and [g.base for g in imf.groups] == [bytes([3]) * 30] * 2
    with pytest.raises(ValueError, match="keyframe picture"), Writer(tmp_path / "a.imf", header) as w:
        w.write_group(GroupRecord(0, 5, b"k", b"", b"base"))  # a picture the header says is not there
    with pytest.raises(ValueError, match="keyframe picture"), Writer(tmp_path / "b.imf", header | {"keyframe_codec": "av1"}) as w:
        w.write_group(GroupRecord(0, 5, b"", b"", b"base"))  # a group that lost its picture
    with pytest.raises(ValueError, match="base layer"):
        Writer(tmp_path / "c.imf", HEADER | {"keyframe_codec": "none"})  # token mode needs its keyframes
    with pytest.raises(ValueError, match="without a base layer"):
        validate_header(HEADER | {"keyframe_codec": "none"})  # what a reader says of such a file
    assert not [p for p in tmp_path.iterdir() if p.name != "k.imf"]


def _chunk_spans(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of every chunk of a well-formed file."""
    spans, pos = [], 6
    while data[pos : pos + 4] != b"IMFX":
        (length,) = struct.unpack_from("<I", data, pos + 4)
        spans.append((data[pos : pos + 4], pos, pos + 12 + length))
        pos += 12 + length
    return spans


def test_swapped_groups_and_a_lying_footer_are_refused(tmp_path: Path) -> None:
    """Chunks that are each intact (their CRCs fixed) but out of order, or a footer whose CRC
    or index pointer is wrong, would decode to frames in the wrong order: refused instead."""
    data = write_sample(tmp_path / "a.imf").read_bytes()
    grup = [(s, e) for kind, s, e in _chunk_spans(data) if kind == b"GRUP"]
    (s0, e0), (s1, e1) = grup[0], grup[1]
    swapped = data[:s0] + data[s1:e1] + data[e0:s1] + data[s0:e0] + data[e1:]  # same sizes: offsets unchanged
    (tmp_path / "swapped.imf").write_bytes(swapped)
    with pytest.raises(FormatError, match="starts at frame 5, expected 0"):
        Reader(tmp_path / "swapped.imf").read_all()
    bad_crc = data[:-1] + bytes([data[-1] ^ 1])
    (tmp_path / "crc.imf").write_bytes(bad_crc)
    with pytest.raises(FormatError, match="CRC mismatch in the footer"):
        Reader(tmp_path / "crc.imf").read_all()
    tail = b"IMFX" + struct.pack("<Q", 6)
    (tmp_path / "ptr.imf").write_bytes(data[:-FOOTER_SIZE] + tail + struct.pack("<I", zlib.crc32(tail)))
    with pytest.raises(FormatError, match="footer points to byte 6"):
        Reader(tmp_path / "ptr.imf").read_all()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fps_den", 0, "'fps_den' (fd) is 0"),
        ("size", 4096 * 2, "'size' (s)"),
        ("token_step", float("nan"), "'token_step'"),
        ("model_id", "abcd", "'model_id'"),
    ],
)
def test_header_fields_are_checked_before_use(tmp_path: Path, field: str, value: object, message: str) -> None:
    with Writer(tmp_path / "h.imf", HEADER | {field: value}) as w:
        w.write_group(GroupRecord(0, 1, b"k", b""))
    with pytest.raises(FormatError, match=re.escape(message)):
        Reader(tmp_path / "h.imf").read_all()
    for required in ("fps_den", "keyframe_codec"):  # keyframe_codec: found missing by the fuzzer (a KeyError in decode)
        header = {k: v for k, v in HEADER.items() if k != required}
        with Writer(tmp_path / "m.imf", header) as w:
            w.write_group(GroupRecord(0, 1, b"k", b""))
        with pytest.raises(FormatError, match=f"HEAD has no '{required}'"):
            Reader(tmp_path / "m.imf").read_all()


@pytest.mark.parametrize("meta", [{"codec": "opus", "sample_rate": 48000, "layout": None}, ["opus"], {"codec": "opus", "layout": "mono"}])
def test_audio_header_is_checked(tmp_path: Path, meta: object) -> None:
    with Writer(tmp_path / "a.imf", HEADER) as w:
        w.write_group(GroupRecord(0, 1, b"k", b""))
        w.write_audio_header(meta)  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="malformed AUDH"):
        Reader(tmp_path / "a.imf").read_all()


def test_the_reader_keeps_groups_in_the_file_not_in_memory(tmp_path: Path) -> None:
    """A 24 MB file is read and walked group by group in well under one group's worth of
    extra memory per group: the reader reads the file as it goes and holds offsets, reading each group
    when it is asked for. Fails if the reader reads the whole file (read_bytes) or keeps the
    groups' payloads (a list of GroupRecords), which makes a long video's decode grow."""
    import tracemalloc

    path = tmp_path / "long.imf"
    payload = 200_000
    with Writer(path, HEADER) as w:
        for g in range(120):
            w.write_group(GroupRecord(g * 5, 5, bytes([g]) * payload, bytes([g + 1]) * 8))
    tracemalloc.start()
    try:
        imf = Reader(path).read_all()
        held = tracemalloc.get_traced_memory()[0]
        peak_walk = 0
        for i, group in enumerate(imf.groups):
            assert group.first_frame == 5 * i and group.keyframe[:1] == bytes([i]) and len(group.keyframe) == payload
            peak_walk = max(peak_walk, tracemalloc.get_traced_memory()[0])
            del group
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 24_000_000
    assert held < 1_000_000, held  # after reading: the offsets, not the 24 MB
    assert peak < 3 * payload + 1_000_000, peak  # a chunk and a group at a time
    assert imf.groups[-1].first_frame == 595 and len(imf.groups[2:4]) == 2


def test_audio_packets_are_read_from_their_chunks_when_used(tmp_path: Path) -> None:
    """Packets of several AUDP chunks come back in order, by iteration and by index (either
    end), while the reader holds two numbers a chunk. Fails if a chunk boundary drops,
    repeats or shifts a packet."""
    path = tmp_path / "audio.imf"
    chunks = [[(960 * (10 * c + i), 960, bytes([c, i])) for i in range(n)] for c, n in enumerate((3, 1, 4))]
    with Writer(path, HEADER) as w:
        w.write_group(GroupRecord(0, 5, b"k", b"t"))
        w.write_audio_header({"codec": "opus", "sample_rate": 48000, "layout": "mono"})
        for packets in chunks:
            w.write_audio_packets(packets)
    imf = Reader(path).read_all()
    flat = [p for packets in chunks for p in packets]
    assert len(imf.audio_packets) == 8 and list(imf.audio_packets) == flat
    assert [imf.audio_packets[i] for i in range(-8, 8)] == flat + flat
    assert imf.audio_packets[2:5] == flat[2:5]
    with pytest.raises(IndexError):
        imf.audio_packets[8]


def test_a_file_that_shrinks_while_read_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """Groups are read from the file when used; if another program truncates it meanwhile,
    reading a group is a one-line FormatError (a memory-mapped reader would die of SIGBUS)."""
    path = write_sample(tmp_path / "a.imf")
    imf = Reader(path).read_all()
    with open(path, "r+b") as f:
        f.truncate(40)
    with pytest.raises(FormatError, match="shrank while it was being read"):
        imf.groups[2]
