"""Classical, model-free readout of a nuclear-translocation plate (e.g. BBBC013 / sbs96).

Per field, with the reporter (GFP) and DNA channels:

1. DNA smoothed (Gaussian, sigma 1.5 px) and thresholded at its Otsu level -> nuclear mask
   (binary opening removes specks).
2. Ring mask: the nuclear mask dilated by ``ring_px`` pixels minus the mask dilated by 1 px
   (cytoplasm next to each nucleus).
3. Score = mean GFP in nuclei / mean GFP in the ring (dimensionless; ~0.8 when the reporter
   is cytoplasmic, >3 when it is nuclear).

Per well the score is the mean over its fields. Plate QC (Z'), a heatmap, and a 4PL fit per
row (SBS plate map: dose index 1..9 on the x axis) are written like the model-based analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from mcnn_infer import atomic
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.heatmaps import score_heatmap
from mcnn_infer.analysis.pipeline import (
    AnalysisResult,
    analysis_progress,
    now_iso,
    safe_name,
    write_potency,
    write_qc,
)
from mcnn_infer.atomic import write_json
from mcnn_infer.images import read_field
from mcnn_infer.plates import scan_plate
from mcnn_infer.results import ANALYSIS_DIRNAME, SUMMARY_NAME
from mcnn_infer.wells import normalize_well

SCORE = "translocation_score"
SBS_COLUMNS = ("Row", "Column", "SBS_Doses", "SBS_Controls")
_SBS_ROLES = {-1: "negative", 0: "treated", 1: "positive"}


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values`` (any shape, float) from a ``bins``-bin histogram."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(float)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (m0 / w0 - (m0[-1] - m0) / w1) ** 2
    return float(centres[int(np.nanargmax(between))]) if np.isfinite(between).any() else float(centres[0])


def nuclear_translocation_score(gfp: np.ndarray, dna: np.ndarray, ring_px: int = 4) -> float:
    """Nuclear / perinuclear reporter intensity ratio of one field.

    Parameters
    ----------
    gfp, dna : numpy.ndarray, shape (H, W)
        Reporter and DNA channels, raw intensities (any numeric dtype).
    ring_px : int
        Outer width of the perinuclear ring in pixels (>= 2).

    Returns
    -------
    float
        Mean GFP inside nuclei divided by mean GFP in the ring; NaN when no nuclei are found
        or the ring is dark.
    """
    if gfp.shape != dna.shape or gfp.ndim != 2:
        raise AnalysisError(
            f"translocation: GFP shape {gfp.shape} and DNA shape {dna.shape}; expected equal (H, W)"
        )
    if ring_px < 2:
        raise AnalysisError(f"translocation: ring_px {ring_px}; expected >= 2")
    d = ndi.gaussian_filter(dna.astype(np.float32), 1.5)
    if float(d.max()) == float(d.min()):
        return float("nan")
    nuclei = ndi.binary_opening(d > otsu_threshold(d))
    ring = ndi.binary_dilation(nuclei, iterations=ring_px) & ~ndi.binary_dilation(nuclei, iterations=1)
    if not nuclei.any() or not ring.any():
        return float("nan")
    g = gfp.astype(np.float32)
    ring_mean = float(g[ring].mean())
    return float(g[nuclei].mean()) / ring_mean if ring_mean > 0 else float("nan")


def read_plate_map(path: str | Path) -> pd.DataFrame:
    """Read a translocation plate map.

    Two formats are accepted:

    * SBS (``1049_Metadata.csv``): ``Row, Column, SBS_Doses, SBS_Controls``; controls -1 / 0 / 1
      become roles negative / treated / positive, the dose index is the x axis, the row the group.
    * hcs plate map: ``well, compound, concentration, role`` (concentration in µM > 0 for
      treated wells); x = log10 concentration, the compound is the group.

    Returns
    -------
    pandas.DataFrame
        ``well, role, group, x`` plus ``x_is_log10_conc`` in ``attrs``.
    """
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{path}: plate map not found")
    raw = pd.read_csv(path, dtype=str)
    if all(c in raw.columns for c in SBS_COLUMNS):
        wells = [normalize_well(f"{r}{c}", str(path)) for r, c in zip(raw["Row"], raw["Column"], strict=True)]
        ctrl = pd.to_numeric(raw["SBS_Controls"], errors="coerce")
        bad = ~ctrl.isin(list(_SBS_ROLES))
        if bad.any():
            raise AnalysisError(
                f"{path}: SBS_Controls {raw['SBS_Controls'][bad].iloc[0]!r}; expected -1, 0 or 1"
            )
        dose = pd.to_numeric(raw["SBS_Doses"], errors="coerce")
        if dose.isna().any():
            raise AnalysisError(
                f"{path}: SBS_Doses {raw['SBS_Doses'][dose.isna()].iloc[0]!r}; expected a number"
            )
        out = pd.DataFrame(
            {"well": wells, "role": ctrl.map(_SBS_ROLES), "group": raw["Row"].str.upper(), "x": dose}
        )
        out.attrs.update(x_is_log10_conc=False, group_name="row", x_label="dose index")
    elif all(c in raw.columns for c in ("well", "compound", "concentration", "role")):
        conc = pd.to_numeric(raw["concentration"], errors="coerce")
        bad = raw["role"].eq("treated") & ~(conc > 0)
        if bad.any():
            raise AnalysisError(
                f"{path}: concentration {raw['concentration'][bad].iloc[0]!r} of a treated well; expected > 0 µM"
            )
        with np.errstate(divide="ignore"):
            x = np.log10(conc.where(conc > 0))
        out = pd.DataFrame(
            {
                "well": [normalize_well(w, str(path)) for w in raw["well"]],
                "role": raw["role"],
                "group": raw["compound"],
                "x": x,
            }
        )
        out.attrs.update(x_is_log10_conc=True, group_name="compound", x_label="log10 concentration (µM)")
    else:
        raise AnalysisError(
            f"{path}: columns {list(raw.columns)}; expected SBS {list(SBS_COLUMNS)} or well, compound, concentration, role"
        )
    if out["well"].duplicated().any():
        raise AnalysisError(f"{path}: well {out['well'][out['well'].duplicated()].iloc[0]} listed twice")
    return out


def analyze_translocation(
    plate_dir: str | Path,
    plate_map: str | Path,
    out_dir: str | Path,
    *,
    reporter_channel: int = 0,
    dna_channel: int = 1,
    ring_px: int = 4,
) -> AnalysisResult:
    """Score a translocation plate classically and write QC, heatmap and per-group 4PL potency.

    Parameters
    ----------
    plate_dir : str or Path
        Plate folder readable by :func:`mcnn_infer.plates.scan_plate` (e.g. ``sbs96``).
    plate_map : str or Path
        See :func:`read_plate_map`.
    out_dir : str or Path
        Output folder; results go to ``out_dir/analysis`` (``translocation_wells.csv``,
        ``qc_plates.csv``, ``qc_controls.png``, ``heatmaps/``, ``potency.csv``, ``dose_response/``,
        ``summary.json``).
    reporter_channel, dna_channel : int
        Positions of the reporter and DNA channels in the plate's channel order.
    ring_px : int
        See :func:`nuclear_translocation_score`.

    Returns
    -------
    AnalysisResult
    """
    scan = scan_plate(plate_dir)
    pmap = read_plate_map(plate_map)
    n_ch = len(scan.channels)
    for name, idx in (("reporter", reporter_channel), ("DNA", dna_channel)):
        if not 0 <= idx < n_ch:
            raise AnalysisError(
                f"{plate_dir}: {name} channel index {idx}; the plate has channels {scan.channels}"
            )
    fields = scan.fields
    if fields.empty:
        raise AnalysisError(f"{plate_dir}: no complete fields found; problems: {len(scan.problems)}")
    path_cols = scan.path_columns
    scores = np.empty(len(fields))
    with analysis_progress() as bar:
        task = bar.add_task("translocation score", total=len(fields))
        for i, paths in enumerate(fields[path_cols].itertuples(index=False)):
            img = read_field([paths[reporter_channel], paths[dna_channel]])
            scores[i] = nuclear_translocation_score(img[:, :, 0], img[:, :, 1], ring_px)
            bar.advance(task)
    per_field = fields[["plate", "well", "site"]].assign(**{SCORE: scores})
    wells = per_field.groupby(["plate", "well"], sort=True)[SCORE].agg(["mean", "count"]).reset_index()
    wells = wells.rename(columns={"mean": SCORE, "count": "n_fields"})
    missing = sorted(set(wells["well"]) - set(pmap["well"]))
    if missing:
        raise AnalysisError(f"{plate_map}: well(s) {missing[:5]} of {plate_dir} are not in the plate map")
    wells = wells.merge(pmap, on="well", how="left")
    out = Path(out_dir) / ANALYSIS_DIRNAME
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_table(wells, out / "translocation_wells.csv")
    summary: dict[str, Any] = {
        "kind": "translocation",
        "source": str(plate_dir),
        "plate_map": str(plate_map),
        "created": now_iso(),
        "readout": "nuclear / perinuclear reporter intensity ratio (model-free)",
        "n_plates": int(wells["plate"].nunique()),
        "n_wells": len(wells),
        "n_fields": len(fields),
        "notes": [],
        "wells_table": "translocation_wells.csv",
    }
    summary["qc"] = write_qc(wells, SCORE, out)
    summary["heatmaps"] = []
    for plate, pw in wells.groupby("plate", sort=True):
        rel = f"heatmaps/{safe_name(plate)}_{SCORE}.png"
        score_heatmap(pw, SCORE, out / rel, title=f"{plate}: translocation score")
        summary["heatmaps"].append({"plate": plate, "kind": "score", "column": SCORE, "path": rel})
    treated = wells[(wells["role"] == "treated") & np.isfinite(wells["x"]) & np.isfinite(wells[SCORE])]
    group = pmap.attrs["group_name"]
    points = treated.rename(columns={"group": group, SCORE: "y"})[[group, "x", "y"]]
    summary["potency"] = write_potency(
        points,
        out,
        group=group,
        x_is_log10_conc=pmap.attrs["x_is_log10_conc"],
        x_label=pmap.attrs["x_label"],
        y_label="translocation score",
    )
    write_json(out / SUMMARY_NAME, summary)
    return AnalysisResult(out, summary)
