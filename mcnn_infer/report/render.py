"""Render ``RESULTS_DIR/analysis`` into one self-contained HTML file (images as base64 data URIs).

Every HTML page of hcs is rendered here: the report (``hcs report``) and the page of ``hcs compare``
(:func:`write_comparison_page`, the report's comparison section on its own). The pages use no
external resources, so they open offline in any browser; the report's only script opens a well's
fields when a plate grid is clicked (:mod:`mcnn_infer.report.cells`).
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pandas as pd

from mcnn_infer import atomic
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.metrics import METRICS
from mcnn_infer.report.cells import Cells
from mcnn_infer.results import (
    ANALYSIS_DIRNAME,
    COMPARISON_DIRNAME,
    COMPARISON_FILE,
    EVALUATION_DIRNAME,
    EVALUATION_FILE,
    SUMMARY_NAME,
)

REPORT_NAME = "report.html"
SECTIONS = ("summary", "qc", "heatmaps", "wells", "moa", "potency", "comparison", "evaluation", "map")
#: Sections of model-score analyses only (not of the classical translocation readout).
_MODEL_ONLY = ("moa", "comparison", "evaluation", "map", "wells")
_MAX_ROWS = 500


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(path: Path, caption: str, width: int | None = None) -> str:
    if not path.is_file():
        raise AnalysisError(f"{path}: figure listed in {SUMMARY_NAME} is missing; re-run hcs analyze")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    style = f' style="width:{width}px"' if width else ""
    return (
        f'<figure><img alt="{_esc(caption)}" src="data:image/png;base64,{data}"{style}>'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _table(df: pd.DataFrame, float_format: str = "{:.3g}") -> str:
    shown = df.head(_MAX_ROWS)
    body = shown.to_html(
        index=False, escape=True, na_rep="", float_format=lambda v: float_format.format(v), border=0
    )
    more = f'<p class="note">{len(df) - _MAX_ROWS} more rows in the CSV.</p>' if len(df) > _MAX_ROWS else ""
    return f'<div class="scroll">{body}</div>{more}'


def _kv(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in items if v is not None)
    return f'<table class="kv">{rows}</table>'


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{_esc(title)}</h2>\n{body}\n</section>'


def _fmt(v: Any) -> str:
    return (
        "n/a"
        if v is None or (isinstance(v, float) and v != v)
        else f"{v:.3f}"
        if isinstance(v, float)
        else str(v)
    )


def _summary(s: dict, root: Path) -> str:
    items = [
        ("analysis", "model scores" if s.get("kind") == "model" else "classical translocation readout"),
        ("source", s.get("source")),
        ("model", s.get("model")),
        ("readout", s.get("readout")),
        ("plates", s.get("n_plates")),
        ("wells", s.get("n_wells")),
        ("fields", s.get("n_fields")),
        ("created", s.get("created")),
    ]
    if s.get("qc"):
        plates = s["qc"]["plates"]
        passed = sum(bool(p["passed"]) for p in plates)
        items.append(("plates passing Z' ≥ 0.5", f"{passed} / {len(plates)}"))
    if s.get("potency"):
        items.append(("trusted EC50 fits", f"{s['potency']['n_trusted']} / {s['potency']['n_fits']}"))
    e = _load_evaluation(s, root)
    if e and "nsc" in e and "nscb" in e:
        items.append(
            ("1-NN MoA accuracy NSC / NSCB", f"{_fmt(e['nsc']['accuracy'])} / {_fmt(e['nscb']['accuracy'])}")
        )
    if e and "map_activity_embeddings" in e:
        parts = [
            f"{_retrieved(e[key])} ({features})"
            for key, features in (
                ("map_activity_embeddings", "embeddings"),
                ("map_activity_probabilities", "probabilities"),
            )
            if key in e
        ]
        items.append(("treatments retrieved vs DMSO (mAP)", ", ".join(parts)))
    notes = "".join(f'<p class="note">{_esc(n)}</p>' for n in s.get("notes", []))
    return _kv(items) + notes


def _controls_used(row) -> str:
    """Which control wells a plate's Z' comes from (held out from the model's training, or all)."""
    if not hasattr(row, "n_trained_excluded"):
        return ""
    held = f" from {row.n_neg} negative and {row.n_pos} positive control wells"
    if int(row.n_trained_excluded):
        return held + f" the model did not train on ({row.n_trained_excluded} trained-on controls left out)"
    return held + " (the model trained on none of this plate's wells)"


def _qc(s: dict, root: Path, cells: Cells | None = None) -> str:
    qc = s.get("qc")
    if not qc:
        return '<p class="note">No control wells: Z\' not computed.</p>'
    df = pd.read_csv(root / qc["table"])
    verdict = "".join(
        f'<p>{_esc(r.plate)}: Z\' = <span class="{"ok" if r.passed else "bad"}">{_fmt(float(r.z_prime))}</span>'
        f" {'(accepted)' if r.passed else '(not accepted: ' + _esc(r.flag) + ')'}"
        f"{_controls_used(r)}</p>"
        for r in df.itertuples()
    )
    parts = [
        f'<p class="note">Z\'-factor from positive vs negative control wells on <b>{_esc(qc["score"])}</b>; '
        "plates are accepted at Z' ≥ 0.5.</p>",
        verdict,
        _table(df),
        '<div class="figs">' + _img(root / qc["control_plot"], "control distributions") + "</div>",
    ]
    if cells is not None:
        parts.append(cells.qc_strip(qc["score"], _score_class(qc["score"], cells)))
    fq = s.get("field_qc")
    if fq:
        parts.append(
            f"<h3>Image QC</h3><p>{fq['n_flagged']} of {fq['n_fields']} fields flagged "
            "(nearly empty, saturated or out of focus).</p>"
        )
        flagged = pd.read_csv(root / fq["table"])
        if len(flagged):
            parts.append(_table(flagged))
        if cells is not None:
            parts.append(cells.flagged())
    return "\n".join(parts)


def _heatmaps(s: dict, root: Path) -> str:
    items = s.get("heatmaps") or []
    if not items:
        return '<p class="note">No heatmaps.</p>'
    figs = "".join(_img(root / h["path"], f"{h['plate']}: {h['column']}", width=560) for h in items)
    return f'<div class="figs">{figs}</div>'


def _moa(s: dict, root: Path, cells: Cells | None = None) -> str:
    moa = s.get("moa")
    if not moa:
        return '<p class="note">No treatment metadata: MoA calls not made.</p>'
    df = pd.read_csv(root / moa["table"])
    keep = [
        c
        for c in (
            "compound",
            "concentration",
            "role",
            "moa",
            "n_wells",
            "predicted_moa",
            "confidence",
            "well_agreement",
            "uncertain",
        )
        if c in df.columns
    ]
    return (
        f'<p class="note">Per treatment: class with the highest mean probability over its wells; '
        f"calls with confidence below {moa['min_confidence']} are marked uncertain.</p>"
        + _table(df[keep])
        + (cells.moa_fields(df) if cells is not None else "")
    )


#: What the potency section says about its rules (see :mod:`mcnn_infer.analysis.potency`).
_POTENCY_RULES = (
    "Trusted means the data pin the EC50: enough doses (at least 4), a response (the 4PL beats a flat "
    "line), monotone per-dose medians, both plateaus seen, an EC50 inside the tested range (not "
    "qualified), and a 95% CI that ends inside the tested range (not ci_open) and spans at most 100-fold. "
    "A steep fit (Hill slope at the bound) is trusted when it passes these rules."
)


def _potency_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The EC50 with its qualifier (``> 30``: above the highest dose) and its 95% CI as text columns."""
    df = df.copy()
    qualifiers = (
        df["ec50_qualifier"].fillna("") if "ec50_qualifier" in df.columns else pd.Series("", df.index)
    )
    for col in ("ec50_uM", "ec50_x"):
        if col in df.columns:
            df[col] = [
                "" if v != v else f"{q if q in ('>', '<') else ''} {v:.3g}".strip()
                for q, v in zip(qualifiers, df[col], strict=True)
            ]
    if {"ec50_low", "ec50_high"} <= set(df.columns):
        df["ec50_95ci"] = [
            "" if lo != lo else f"{lo:.3g} - {hi:.3g}"
            for lo, hi in zip(df["ec50_low"], df["ec50_high"], strict=True)
        ]
    return df


def _potency(s: dict, root: Path, cells: Cells | None = None) -> str:
    pot = s.get("potency")
    if not pot:
        return '<p class="note">No dose-response data.</p>'
    df = _potency_columns(pd.read_csv(root / pot["table"]).fillna({"flags": ""}))
    cols = [
        c
        for c in (
            pot["group"],
            "response_class",
            "n_points",
            "n_doses",
            "ec50_uM",
            "ec50_x",
            "ec50_95ci",
            "ci_method",
            "hill",
            "steep",
            "bottom",
            "top",
            "r2",
            "trusted",
            "flags",
        )
        if c in df.columns
    ]
    if "max_hill" in pot:
        method = (
            f"EC50 with its 95% confidence interval from the likelihood profile (ci_method profile: the residual "
            f"sum of squares profiled over log EC50 with the other parameters re-fitted, F threshold), bounded "
            f"by the tested range; profile+doses: the transition is not measured (a steep fit, or fewer than 2 "
            f"doses inside it), so the interval reaches the doses around it. Hill slope bounded by "
            f"|hill| &le; {float(pot['max_hill']):g}; {pot.get('n_steep', 0)} steep fit(s) at the bound. "
            f"EC50s outside the tested range are qualified: &gt; highest dose (no transition within the "
            f"range) or &lt; lowest dose (already active there) and reported at that dose. {_esc(_POTENCY_RULES)} "
        )
    else:  # an analysis written before the profile intervals
        method = "EC50 with 95% confidence interval. "
    parts = [
        f'<p class="note">4-parameter logistic fit per {_esc(pot["group"])} of the {_esc(pot.get("y_label", "response"))} '
        f"on {_esc(pot['x_label'])}; {method}Flags: too_few_points, fit_failed, no_response, non_monotone, "
        "no_plateau, qualified, ci_open, ci_too_wide.</p>",
        _table(df[cols]),
    ]
    truth = pot.get("truth")
    if truth:
        parts.append(
            f"<h3>EC50 versus truth</h3><p>median fold-error {_fmt(truth['median_fold_error_trusted'])} over "
            f"{truth['n_trusted']} trusted fits ({_fmt(truth['median_fold_error_all'])} over all "
            f"{truth['n_compared']}).</p>" + _table(pd.read_csv(root / truth["table"]))
        )
    strips = cells.dose_strips(df, pot["group"]) if cells is not None else {}
    figs = "".join(
        '<div class="pair">'
        + _img(root / p, f"{pot['group']} {k}", width=420)
        + strips.get(str(k), "")
        + "</div>"
        for k, p in pot["plots"].items()
    )
    parts.append(f'<div class="figs">{figs}</div>')
    return "\n".join(parts)


def _score_class(column: str, cells: Cells) -> str | None:
    """The class of a ``prob_<class>`` / ``logodds_<class>`` column (None if it names none)."""
    name = column.split("_", 1)[-1]
    return name if name in cells.class_names else None


def _wells(s: dict, cells: Cells | None) -> str:
    if cells is None:
        return '<p class="note">No field table: no wells to show.</p>'
    score = (s.get("qc") or {}).get("score") or next(
        (h["column"] for h in s.get("heatmaps") or [] if h.get("kind") == "score"), None
    )
    if score is None or score not in cells.wells:
        return '<p class="note">No well score to show.</p>'
    return cells.explorer(score)


def _retrieved(entry: dict) -> str:
    return f"{entry['n_retrieved']} / {entry['n_groups']} ({_fmt(entry['fraction_retrieved'])})"


def _load_json(path: Path, remedy: str) -> dict:
    """The JSON object in ``path``; an AnalysisError naming the file and ``remedy`` when it is
    missing or not valid JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise AnalysisError(f"{path}: not found; {remedy}") from exc
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"{path}: invalid JSON ({exc}); {remedy}") from exc


def _load_evaluation(s: dict, root: Path) -> dict | None:
    """The evaluation the report shows: ``evaluation/evaluation.json`` (rewritten by a later
    ``hcs evaluate``, like the figures beside it) when present, else the summary's copy."""
    path = root / EVALUATION_DIRNAME / EVALUATION_FILE
    if s.get("evaluation") and path.is_file():
        return _load_json(path, "re-run hcs evaluate or hcs analyze")
    return s.get("evaluation")


def _load_comparison(folder: Path) -> dict | None:
    """``readout_comparison.json`` of a comparison folder (written by ``hcs compare``), or None when absent."""
    path = folder / COMPARISON_FILE
    return _load_json(path, "re-run hcs compare") if path.is_file() else None


def _comparison(c: dict, folder: Path) -> str:
    """The comparison of ``hcs compare`` (``c``: its ``readout_comparison.json``; ``folder``: its files)."""
    z, held = c["z_prime_held_out"], c["held_out_controls"]
    scales = c["classical_scales"]
    rows = [
        (
            "control wells the model did not train on",
            f"{held['n_negative']} negative, {held['n_positive']} positive: {', '.join(held['wells'])}",
        ),
        ("control wells it trained on (not in Z')", ", ".join(c["trained_control_wells"]) or "none"),
        (f"Z' M-CNN ({c['model_qc_score']}, the QC score)", _fmt(z["model"])),
        (f"Z' M-CNN ({c['model_readout']})", _fmt(z["model_logodds"])),
        *((f"Z' classical {name}", _fmt(v["z_prime_held_out"])) for name, v in scales.items()),
        ("Z' classical (verdict scale) on all controls", _fmt(c["z_prime_classical_all_controls"])),
        (
            f"every M-CNN row EC50 within the classical {c['classical_scale']} range ± {c['tolerance']}",
            "yes" if c["all_model_ec50_within"] else "no",
        ),
    ]
    per_scale = pd.DataFrame(
        [
            {
                "classical scale": name + (" (verdict)" if name == c["classical_scale"] else ""),
                "classical EC50 range": f"{v['classical_ec50_range'][0]:.2f}-{v['classical_ec50_range'][1]:.2f}",
                f"M-CNN rows within ±{c['tolerance']}": f"{v['n_groups_within']}/{v['n_groups']}",
                "median shift M-CNN - classical": v["ec50_shift_model_minus_classical"],
                "Spearman of the rows' EC50s": v["ec50_spearman"],
                "Pearson r of the dosed wells": v["pearson_r_treated_wells"],
            }
            for name, v in scales.items()
        ]
    )
    return (
        f'<p class="note">The M-CNN ({_esc(c["model_readout"])}) and the classical translocation readout of '
        "the same plate, judged on the same held-out control wells; EC50 per row on the dose index "
        f"against every scale of the classical readout (<code>hcs compare</code>; files in "
        f"{_esc(COMPARISON_DIRNAME)}/).</p>"
        + _kv(rows)
        + '<p class="note">A 4PL EC50 depends on the scale of the readout. The ratio grows with the odds of '
        "nuclear localisation, so it is convex in the amount translocated and reaches its half-maximal value "
        "later in the dose series than the log-ratio or the nuclear fraction of the same nuclei and rings.</p>"
        + _table(per_scale)
        + _table(pd.read_csv(folder / c["table"]))
        + _img(
            folder / c["plot"],
            "dose response per row: M-CNN and classical, each scaled to its held-out controls",
        )
    )


def _normalization(e: dict) -> str:
    norm = e.get("normalization")
    if not norm:
        return '<p class="note">Profiles: per-well median embeddings (normalisation not recorded).</p>'
    dropped = sum((norm.get("n_features_dropped") or {}).values())
    kept = (
        f"; {norm['n_features']} of {norm['n_features_in']} embedding features kept"
        + (f" ({dropped} without spread over the DMSO wells dropped)" if dropped else "")
        if norm.get("n_features_in") is not None
        else ""
    )
    return (
        f'<p class="note">Profiles normalised: <b>{_esc(norm["name"])}</b> — '
        f"{_esc(norm.get('description', ''))}{_esc(kept)}.</p>"
    )


def _evaluation(s: dict, root: Path) -> str:
    e = _load_evaluation(s, root)
    if not e:
        return '<p class="note">No MoA labels or embeddings: evaluation not run.</p>'
    rows = [("treatments", e["n_treatments"])]
    for metric in METRICS:
        if metric.section == "evaluation" and metric.key in e:
            entry = e[metric.key]
            rows.append((metric.label, f"{_fmt(entry[metric.score_name])} (n = {entry['n_queries']})"))
    figs = "".join(
        _img(root / EVALUATION_DIRNAME / f["confusion_png"], f"confusion matrix: {mode}")
        for mode, f in e["files"].items()
        if "confusion_png" in f
    )
    return (
        '<p class="note">Treatment-level MoA accuracy as in Ljosa et al. 2013: cosine 1-NN over median '
        "treatment profiles, DMSO excluded.</p>"
        + _normalization(e)
        + _kv(rows)
        + f'<div class="figs">{figs}</div>'
    )


def _map(s: dict, root: Path) -> str:
    e = _load_evaluation(s, root)
    metrics = [m for m in METRICS if m.section == "map" and e and m.key in e]
    if not metrics:
        return '<p class="note">No MoA labels or embeddings: mAP not computed.</p>'
    settings = e.get("map_settings", {})
    rows = [(m.label, f"{_retrieved(e[m.key])}, mean mAP {_fmt(e[m.key]['mean_map'])}") for m in metrics]
    rows.append(
        (
            "null distribution",
            f"{settings.get('null_size', 'n/a')} permutations, seed {settings.get('seed', 'n/a')}; "
            f"retrieved at Benjamini-Hochberg corrected p < {settings.get('threshold', 'n/a')}",
        )
    )
    folder = root / EVALUATION_DIRNAME
    figs = "".join(
        _img(folder / e["files"][m.key]["png"], m.label, width=460)
        for m in metrics
        if "png" in e["files"].get(m.key, {})
    )
    tables = "".join(
        f"<h3>{_esc(m.label)}</h3>" + _table(pd.read_csv(folder / e["files"][m.key]["predictions"]))
        for m in metrics
        if e[m.key].get("kind") == "consistency" and "predictions" in e["files"].get(m.key, {})
    )
    listed = ", ".join(
        e["files"][m.key]["predictions"]
        for m in metrics
        if e[m.key].get("kind") == "activity" and "predictions" in e["files"].get(m.key, {})
    )
    return (
        '<p class="note">Mean average precision with copairs (Kalinin et al. 2025), as in the JUMP '
        "recipe (Arevalo et al. 2024), cosine similarity. <b>Phenotypic activity</b>: each well of a "
        "treatment (compound x concentration) retrieves the treatment's other wells among the DMSO "
        "wells of its plate; mAP per treatment. <b>Phenotypic consistency</b>: each labelled "
        "treatment's median profile retrieves treatments of the same MoA and another compound among "
        "those of other MoAs; mAP per MoA. p-values from a permutation null.</p>"
        + _normalization(e)
        + _kv(rows)
        + f'<div class="figs">{figs}</div>'
        + tables
        + (f'<p class="note">Per-treatment mAP: {_esc(listed)} (evaluation folder).</p>' if listed else "")
    )


_TITLES = {
    "summary": "Summary",
    "qc": "Plate QC",
    "heatmaps": "Plate heatmaps",
    "wells": "Wells and fields",
    "moa": "MoA calls",
    "potency": "Dose-response and EC50",
    "evaluation": "Evaluation",
    "map": "Image-based profiling: mAP",
    "comparison": "M-CNN vs classical readout",
}


def render_report(analysis_dir: str | Path, images: bool = True) -> str:
    """Render the HTML text for an ``analysis/`` folder written by ``hcs analyze``.

    Parameters
    ----------
    analysis_dir : str or Path
        Folder holding ``summary.json`` and the tables / figures it lists.
    images : bool
        Show the field thumbnails the scorer kept (``thumbnails.parquet`` of the results folder the
        summary names); False: tables, plots and the clickable plate grids only.

    Returns
    -------
    str
        A complete HTML document with all images embedded.
    """
    root = Path(analysis_dir)
    s = _load_json(root / SUMMARY_NAME, "run hcs analyze first (it writes the summary)")
    comparison = _load_comparison(root / COMPARISON_DIRNAME)
    source = Path(str(s.get("source", root.parent)))
    cells = (
        Cells.load(source if source.is_dir() else root.parent, images) if s.get("kind") == "model" else None
    )
    builders = {
        "comparison": lambda: _comparison(comparison, root / COMPARISON_DIRNAME),
        "summary": lambda: _summary(s, root),
        "qc": lambda: _qc(s, root, cells),
        "heatmaps": lambda: _heatmaps(s, root),
        "wells": lambda: _wells(s, cells),
        "moa": lambda: _moa(s, root, cells),
        "potency": lambda: _potency(s, root, cells),
        "evaluation": lambda: _evaluation(s, root),
        "map": lambda: _map(s, root),
    }
    keys = [
        k
        for k in SECTIONS
        if not (s.get("kind") == "translocation" and k in _MODEL_ONLY) and (k != "comparison" or comparison)
    ]
    return _page(
        f"hcs screening report — {Path(str(s.get('source', root))).name}",
        f"{s.get('source', '')} · generated {s.get('created', '')}",
        [(k, builders[k]()) for k in keys],
        head=cells.style() if cells is not None else "",
    )


def _page(title: str, subtitle: str, sections: list[tuple[str, str]], head: str = "") -> str:
    """A complete HTML document: ``sections`` are (key of :data:`_TITLES`, body HTML); ``head``
    goes into the document's head (the style and script of the field thumbnails)."""
    body = "\n".join(_section(k, _TITLES[k], html_) for k, html_ in sections)
    nav = "".join(f'<a href="#{k}">{_esc(_TITLES[k])}</a>' for k, _ in sections)
    template = Template(resources.files("mcnn_infer.report").joinpath("template.html").read_text("utf-8"))
    return template.substitute(title=_esc(title), subtitle=_esc(subtitle), nav=nav, sections=body, head=head)


def write_comparison_page(comparison_dir: str | Path) -> Path:
    """Write ``readout_comparison.html`` of an ``hcs compare`` folder: the report's comparison section alone.

    Parameters
    ----------
    comparison_dir : str or Path
        Folder holding ``readout_comparison.json`` and the table and figure it names.

    Returns
    -------
    Path
        The HTML file written (atomically), named by the JSON's ``html``.
    """
    folder = Path(comparison_dir)
    c = _load_json(folder / COMPARISON_FILE, "run hcs compare first")
    text = _page(
        "M-CNN vs classical translocation readout",
        f"{folder} · model readout {c['model_readout']}, classical scale {c['classical_scale']}",
        [("comparison", _comparison(c, folder))],
    )
    target = folder / c["html"]
    atomic.write_text(target, text)
    return target


def write_report(
    results_dir: str | Path,
    out: str | Path | None = None,
    *,
    analyze_if_missing: bool = True,
    images: bool = True,
) -> Path:
    """``hcs report``: write ``RESULTS_DIR/report.html`` (or ``out``) from ``RESULTS_DIR/analysis``.

    Parameters
    ----------
    results_dir : str or Path
        A scoring results folder, or the output folder of the translocation readout.
    out : str or Path, optional
        HTML file to write; default ``results_dir/report.html``.
    analyze_if_missing : bool
        Run :func:`mcnn_infer.analysis.pipeline.analyze` first when ``analysis/summary.json`` is absent.
    images : bool
        Embed the field thumbnails (``hcs report --no-images``: False).

    Returns
    -------
    Path
        The HTML file written (atomically).
    """
    root = Path(results_dir)
    analysis_dir = root / ANALYSIS_DIRNAME
    if not (analysis_dir / SUMMARY_NAME).is_file():
        if not analyze_if_missing:
            raise AnalysisError(f"{analysis_dir / SUMMARY_NAME}: not found; run hcs analyze {root} first")
        from mcnn_infer.analysis.pipeline import analyze

        analyze(root)
    text = render_report(analysis_dir, images)
    target = Path(out) if out is not None else root / REPORT_NAME
    atomic.write_text(target, text)
    return target
