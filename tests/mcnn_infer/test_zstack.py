"""Z-stacks: the --planes choice, plane stacks read as projections, refusals naming the option."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from mcnn_infer.errors import ConfigError, ImageReadError
from mcnn_infer.images import image_info, read_field, read_image
from mcnn_infer.zstack import choose_planes, make_stack, parse_planes, parse_stack, planes_per_field


def _planes(tmp_path, values, dtype=np.uint16, shape=(4, 5)):
    paths = []
    for i, value in enumerate(values):
        path = tmp_path / f"z{i + 1}.tif"
        data = np.full(shape, value, dtype)
        data[0, 0] = 10 * i  # a pixel that differs per plane
        tifffile.imwrite(path, data)
        paths.append(str(path))
    return paths


def test_parse_planes():
    assert [parse_planes(v) for v in (None, "max", " MEAN ", "3", 2, "007")] == [None, "max", "mean", "3", "2", "7"]
    for bad in ("0", "-1", "median", "1.5", ""):
        with pytest.raises(ConfigError, match="expected max, mean or a plane number"):
            parse_planes(bad)


def test_stacks_are_read_as_max_and_rounded_mean(tmp_path):
    paths = _planes(tmp_path, [1, 2, 6])
    top = read_image(make_stack(paths, "max"))
    mean = read_image(make_stack(paths, "mean"))
    assert top.dtype == np.uint16 and mean.dtype == np.uint16
    assert top[1, 1] == 6 and top[0, 0] == 20
    assert mean[1, 1] == 3 and mean[0, 0] == 10
    info = image_info(make_stack(paths, "mean"))
    assert (info.height, info.width, info.dtype) == (4, 5, "uint16")
    field = read_field([make_stack(paths, "max"), make_stack(paths[:2], "max")])
    assert field.shape == (4, 5, 2) and field[1, 1].tolist() == [6, 2]


def test_stack_with_an_odd_plane_or_a_bad_text_is_a_read_error(tmp_path):
    paths = _planes(tmp_path, [1, 2])
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((8, 8), np.uint16))
    with pytest.raises(ImageReadError, match="expected all planes alike") as info:
        read_image(make_stack([*paths, str(tmp_path / "big.tif")], "max"))
    assert "big.tif" in str(info.value)
    with pytest.raises(ImageReadError, match="not a plane stack"):
        parse_stack("zstack:median:[]")
    with pytest.raises(ImageReadError, match="not a plane stack"):
        read_image("zstack:max:not json")


def _table(planes_of: dict[tuple[str, int], int]) -> pd.DataFrame:
    rows = []
    for (well, site), n in planes_of.items():
        for plane in range(1, n + 1):
            rows.append(
                {
                    "plate": "P1",
                    "well": well,
                    "row": well[0],
                    "col": int(well[1:]),
                    "site": site,
                    "timepoint": 1,
                    "plane": plane,
                    "path_a": f"/p/{well}_{site}_z{plane}_a.tif",
                    "path_b": f"/p/{well}_{site}_z{plane}_b.tif",
                }
            )
    return pd.DataFrame(rows)


def test_choose_planes_refuses_a_stack_without_a_choice():
    fields = _table({("B02", 1): 3, ("B03", 1): 3})
    assert planes_per_field(fields) == 3
    with pytest.raises(ConfigError, match=r"plate P1 \(/plates/P1\) has up to 3 z-planes per field.*--planes max"):
        choose_planes(fields, ["a", "b"], None, "/plates/P1")
    single = _table({("B02", 1): 1})
    out, problems = choose_planes(single, ["a", "b"], None, "/plates/P1")
    assert out is single and problems == []


def test_choose_one_plane_lists_fields_without_it():
    fields = _table({("B02", 1): 3, ("B03", 1): 1})
    out, problems = choose_planes(fields, ["a", "b"], "2", "src")
    assert out[["well", "plane"]].values.tolist() == [["B02", 2]]
    assert out["path_a"].tolist() == ["/p/B02_1_z2_a.tif"]
    assert [(p["well"], p["site"]) for p in problems] == [("B03", 1)]
    assert problems[0]["problem"].startswith("field has no plane 2 (planes 1;")


def test_projection_gives_one_row_per_field_and_time_point():
    fields = _table({("B02", 1): 3, ("B02", 2): 3, ("B03", 1): 1})
    out, problems = choose_planes(fields, ["a", "b"], "max", "src")
    assert problems == []
    assert list(out.columns) == list(fields.columns)
    assert out[["well", "site", "plane"]].values.tolist() == [["B02", 1, 0], ["B02", 2, 0], ["B03", 1, 1]]
    how, paths = parse_stack(out.loc[0, "path_b"])
    assert how == "max" and paths == [f"/p/B02_1_z{z}_b.tif" for z in (1, 2, 3)]
    assert out.loc[2, "path_a"] == "/p/B03_1_z1_a.tif"  # one plane: unchanged
