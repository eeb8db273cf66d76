"""Classical, model-free readout of a nuclear-translocation plate (e.g. BBBC013 / sbs96).

Per field, with the reporter (GFP) and DNA channels:

1. DNA smoothed (Gaussian, sigma 1.5 px) and thresholded at its Otsu level -> nuclear mask
   (binary opening removes specks).
2. Ring mask: the nuclear mask dilated by ``ring_px`` pixels minus the mask dilated by 1 px
   (cytoplasm next to each nucleus).
3. From the mean GFP in nuclei N and in the ring R, three scales of the same measurement
   (:data:`SCALES`, each a column of ``translocation_wells.csv``):

   * ``ratio`` N / R (dimensionless; ~0.8 when the reporter is cytoplasmic, >3 when nuclear);
   * ``log-ratio`` ln(N / R);
   * ``nuclear-fraction`` N / (N + R) (0..1).

   The ratio grows with the odds of nuclear localisation, so it is convex in the amount
   translocated: its half-maximal point, and with it a 4PL EC50, lies at higher doses than on
   the other two scales (about 0.4 dose index on sbs96). ``score`` chooses the scale of QC,
   heatmap and potency (default ``ratio``); the other two are written beside it.

Per well each scale is the mean over its fields. Plate QC (Z'), a heatmap, and a 4PL fit per
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
from mcnn_infer.analysis.outputs import (
    AnalysisResult,
    analysis_progress,
    now_iso,
    safe_name,
    write_potency,
    write_qc,
)
from mcnn_infer.analysis.potency import MAX_HILL, baseline_columns
from mcnn_infer.atomic import write_json
from mcnn_infer.images import read_field
from mcnn_infer.plates import scan_plate
from mcnn_infer.results import ANALYSIS_DIRNAME, SUMMARY_NAME
from mcnn_infer.wells import normalize_well

SCORE = "translocation_score"
#: Scale name -> column of the per-well table. ``translocation_score`` (the ratio) keeps its name.
SCALES = {
    "ratio": SCORE,
    "log-ratio": "translocation_log_ratio",
    "nuclear-fraction": "translocation_nuclear_fraction",
}
_SCALE_TEXT = {
    "ratio": "nuclear / perinuclear reporter intensity ratio",
    "log-ratio": "natural log of the nuclear / perinuclear reporter intensity ratio",
    "nuclear-fraction": "nuclear / (nuclear + perinuclear) reporter intensity",
}
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


def nuclear_and_ring_means(gfp: np.ndarray, dna: np.ndarray, ring_px: int = 4) -> tuple[float, float]:
    """Mean reporter intensity in the nuclei and in the perinuclear ring of one field.

    Parameters
    ----------
    gfp, dna : numpy.ndarray, shape (H, W)
        Reporter and DNA channels, raw intensities (any numeric dtype).
    ring_px : int
        Outer width of the perinuclear ring in pixels (>= 2).

    Returns
    -------
    nuclear, ring : float
        Mean GFP inside nuclei and in the ring (raw intensity units); NaN when no nuclei or no
        ring pixels are found.
    """
    if gfp.shape != dna.shape or gfp.ndim != 2:
        raise AnalysisError(
            f"translocation: GFP shape {gfp.shape} and DNA shape {dna.shape}; expected equal (H, W)"
        )
    if ring_px < 2:
        raise AnalysisError(f"translocation: ring_px {ring_px}; expected >= 2")
    d = ndi.gaussian_filter(dna.astype(np.float32), 1.5)
    if float(d.max()) == float(d.min()):
        return float("nan"), float("nan")
    nuclei = ndi.binary_opening(d > otsu_threshold(d))
    ring = ndi.binary_dilation(nuclei, iterations=ring_px) & ~ndi.binary_dilation(nuclei, iterations=1)
    if not nuclei.any() or not ring.any():
        return float("nan"), float("nan")
    g = gfp.astype(np.float32)
    return float(g[nuclei].mean()), float(g[ring].mean())


def translocation_scales(nuclear: np.ndarray, ring: np.ndarray) -> dict[str, np.ndarray]:
    """The three scales of :data:`SCALES` from nuclear and ring means.

    Parameters
    ----------
    nuclear, ring : numpy.ndarray, shape (n,)
        Mean reporter intensity in nuclei and ring per field (raw intensity units).

    Returns
    -------
    dict
        ``{column: array of shape (n,)}``; NaN where the ring is dark (R <= 0) or a mean is NaN.
    """
    nuclear = np.asarray(nuclear, dtype=float)
    ring = np.asarray(ring, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ring > 0, nuclear / np.where(ring > 0, ring, 1.0), np.nan)
        return {
            SCALES["ratio"]: ratio,
            SCALES["log-ratio"]: np.log(ratio),
            SCALES["nuclear-fraction"]: np.where(ring > 0, nuclear / (nuclear + ring), np.nan),
        }


def nuclear_translocation_score(gfp: np.ndarray, dna: np.ndarray, ring_px: int = 4) -> float:
    """The ratio N / R of one field (parameters as :func:`nuclear_and_ring_means`); NaN without nuclei or ring."""
    nuclear, ring = nuclear_and_ring_means(gfp, dna, ring_px)
    return float(translocation_scales(np.array([nuclear]), np.array([ring]))[SCORE][0])


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
    score: str = "ratio",
    max_hill: float = MAX_HILL,
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
        See :func:`nuclear_and_ring_means`.
    score : str
        Scale of QC, heatmap and potency, a key of :data:`SCALES`; every scale is written.
    max_hill : float
        Bound of the 4PL Hill slope |hill| (:func:`mcnn_infer.analysis.potency.fit_four_pl`).

    Returns
    -------
    AnalysisResult
    """
    if score not in SCALES:
        raise AnalysisError(f"translocation: score {score!r}; expected one of {sorted(SCALES)}")
    column = SCALES[score]
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
    means = np.empty((len(fields), 2))
    with analysis_progress() as bar:
        task = bar.add_task("translocation score", total=len(fields))
        for i, paths in enumerate(fields[path_cols].itertuples(index=False)):
            img = read_field([paths[reporter_channel], paths[dna_channel]])
            means[i] = nuclear_and_ring_means(img[:, :, 0], img[:, :, 1], ring_px)
            bar.advance(task)
    per_field = fields[["plate", "well", "site"]].assign(**translocation_scales(means[:, 0], means[:, 1]))
    by_well = per_field.groupby(["plate", "well"], sort=True)
    wells = (
        by_well[list(SCALES.values())].mean().join(by_well[SCORE].count().rename("n_fields")).reset_index()
    )
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
        "readout": f"{_SCALE_TEXT[score]} (model-free)",
        "score": score,
        "score_column": column,
        "scale_columns": dict(SCALES),
        "n_plates": int(wells["plate"].nunique()),
        "n_wells": len(wells),
        "n_fields": len(fields),
        "notes": [],
        "wells_table": "translocation_wells.csv",
    }
    summary["qc"] = write_qc(wells, column, out)
    summary["heatmaps"] = []
    for plate, pw in wells.groupby("plate", sort=True):
        rel = f"heatmaps/{safe_name(plate)}_{column}.png"
        score_heatmap(pw, column, out / rel, title=f"{plate}: translocation {score}")
        summary["heatmaps"].append({"plate": plate, "kind": "score", "column": column, "path": rel})
    treated = wells[(wells["role"] == "treated") & np.isfinite(wells["x"]) & np.isfinite(wells[column])]
    group = pmap.attrs["group_name"]
    points = treated.rename(columns={"group": group, column: "y"})[[group, "x", "y"]].assign(
        **baseline_columns(wells.loc[wells["role"] == "negative", column])
    )
    summary["potency"] = write_potency(
        points,
        out,
        group=group,
        x_is_log10_conc=pmap.attrs["x_is_log10_conc"],
        x_label=pmap.attrs["x_label"],
        y_label=f"translocation {score}",
        max_hill=max_hill,
    )
    write_json(out / SUMMARY_NAME, summary)
    return AnalysisResult(out, summary)
