"""Fuzzing the TIFF reader: corrupted, truncated and random files end in ImageReadError, fast."""

from __future__ import annotations

import io

import numpy as np
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcnn_infer.errors import HcsError
from mcnn_infer.images import read_field, read_image


def _valid_tiff(dtype: str, compression: str | None) -> bytes:
    buffer = io.BytesIO()
    data = (np.arange(48 * 40) % 251).reshape(48, 40).astype(dtype)
    tifffile.imwrite(buffer, data, compression=compression)
    return buffer.getvalue()


SEEDS = {
    (dtype, comp): _valid_tiff(dtype, comp)
    for dtype in ("uint8", "uint16", "float32")
    for comp in (None, "zlib")
}


@st.composite
def corrupted_tiffs(draw):
    data = bytearray(draw(st.sampled_from(list(SEEDS.values()))))
    mode = draw(st.sampled_from(["truncate", "flip", "overwrite", "random"]))
    if mode == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if mode == "flip":
        for _ in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if mode == "overwrite":
        pos = draw(st.integers(0, min(len(data) - 1, 400)))
        chunk = draw(st.binary(min_size=1, max_size=16))
        data[pos : pos + len(chunk)] = chunk
        return bytes(data)
    return draw(st.binary(max_size=600))


@settings(max_examples=500, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=corrupted_tiffs())
def test_corrupted_files_never_crash_or_hang(tmp_path, content):
    path = tmp_path / "fuzz.tif"
    path.write_bytes(content)
    try:
        data = read_image(path)
    except HcsError as exc:
        assert str(path) in str(exc)
        return
    # anything that decodes is a bounded, finite 2-D image
    assert data.ndim == 2 and data.size <= 2**27
    if data.dtype.kind == "f":
        assert np.isfinite(data).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=4))
def test_fields_of_mixed_shapes(tmp_path, shapes):
    paths = []
    for k, shape in enumerate(shapes):
        paths.append(tmp_path / f"c{k}.tif")
        tifffile.imwrite(paths[-1], np.zeros(shape, np.uint16))
    try:
        field = read_field(paths)
    except HcsError:
        assert len(set(shapes)) > 1
        return
    assert field.shape == (*shapes[0], len(shapes)) and len(set(shapes)) == 1
