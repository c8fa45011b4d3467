"""Hostile files: structure-aware mutations (tests/fuzzing.py) with every CRC repaired, fed
to `info` and to the decoder. Each must decode or fail with an ImfcodecError (one line in
the CLI); any other exception is a bug. scripts/fuzz_decode.py runs the long campaign."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imfcodec.bitstream.container import Reader
from imfcodec.codec.decoder import iter_decoded_frames, read_imf
from imfcodec.codec.info import describe
from imfcodec.errors import ImfcodecError
from tests.conftest import synthetic_frames
from tests.fuzzing import join, make_seeds, mutate, split


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> list[tuple[bytes, object]]:
    return [(data, loaded) for _, data, loaded in make_seeds(tmp_path_factory.mktemp("fuzz"), tiny_model_path)]


def test_split_and_join_give_the_file_back(seeds) -> None:
    for data, _ in seeds:
        assert join(*split(data)) == data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_mutated_files_decode_or_fail_cleanly(tmp_path_factory: pytest.TempPathFactory, seeds, seed: int, hybrid: bool) -> None:
    data, loaded = seeds[int(hybrid)]
    mutated, what = mutate(data, random.Random(seed))
    path = tmp_path_factory.mktemp("m") / "m.imf"
    path.write_bytes(mutated)
    try:
        describe(Reader(path).read_all())
        frames = list(iter_decoded_frames(read_imf(path), loaded))
        assert all(isinstance(f, np.ndarray) and f.dtype == np.uint8 for f in frames), what
    except ImfcodecError:
        pass  # the CLI prints it as one line and exits 1


def test_a_keyframe_of_the_wrong_size_is_refused(tmp_path: Path, seeds) -> None:
    """Found by the fuzzer: a GRUP whose keyframe is a valid AV1 picture of another size
    reached the network as a RuntimeError. It must be a DecodeError naming the group."""
    from dataclasses import replace

    from imfcodec.bitstream.container import GroupRecord
    from imfcodec.codec.decoder import DecodeError
    from imfcodec.codec.keyframes import get_codec

    data, loaded = seeds[0]
    preamble, chunks = split(data)
    i = [k for k, _ in chunks].index(b"GRUP")
    group = GroupRecord.decode(chunks[i][1])
    small = get_codec(read_imf_header_codec(data, tmp_path)).encode(synthetic_frames(1, 32, 32, seed=1)[0], 4)
    chunks[i] = (b"GRUP", replace(group, keyframe=small).encode())
    path = tmp_path / "forged.imf"
    path.write_bytes(join(preamble, chunks))
    with pytest.raises(DecodeError, match="is 32x32, not 64x64"):
        list(iter_decoded_frames(read_imf(path), loaded))


def read_imf_header_codec(data: bytes, folder: Path) -> str:
    path = folder / "seed.imf"
    path.write_bytes(data)
    return str(read_imf(path).header["keyframe_codec"])
