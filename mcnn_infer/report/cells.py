"""The cells in the report: thumbnails of the fields ``hcs score`` kept (``thumbnails.parquet``).

Each thumbnail is embedded once, as a CSS class with a ``data:image/jpeg`` background (a class
activation map the same way, as a small PNG), so a field shown in several places (a control
strip, a dose strip and the well it belongs to) costs its bytes once. Rendered blocks:

- :meth:`Cells.qc_strip`: negative and positive control fields per plate (controls the model
  trained on are marked: plate QC leaves them out);
- :meth:`Cells.dose_strips`: per compound one field per concentration (closest to the median
  readout of the concentration's wells);
- :meth:`Cells.moa_fields`: per called MoA the most confident fields, with the map of that class;
- :meth:`Cells.flagged`: the fields image QC flagged;
- :meth:`Cells.explorer`: a plate grid per plate; clicking a well shows its fields and scores
  (:data:`SCRIPT`, a few lines, no network).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.results import (
    FIELDS,
    IN_TRAINING,
    KEYS,
    OK,
    QC_FLAGS,
    THUMB_QC,
    THUMBNAILS_FILE,
    WELLS,
    logodds_column,
    prob_column,
    stored_class_names,
)
from mcnn_infer.wells import plate_shape_for, row_label, split_well

#: Fields shown per called MoA, and per plate and role in the QC strip.
MOA_FIELDS, STRIP_FIELDS = 4, 8
#: Flagged fields shown in the image-QC block.
MAX_FLAGGED = 48

#: Opens a well's panel when a cell of a plate grid is clicked (no network, no library).
SCRIPT = """<script>
document.addEventListener("click", function (event) {
  var cell = event.target.closest("[data-well]");
  if (!cell) return;
  var grid = cell.closest(".explorer");
  grid.querySelectorAll(".well-panel").forEach(function (p) { p.hidden = p.id !== "well-" + cell.dataset.well; });
  grid.querySelectorAll("[data-well]").forEach(function (c) { c.classList.toggle("sel", c === cell); });
});
</script>"""

STYLE = """
.strip { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 10px; }
.cell { position: relative; display: inline-block; font-size: 10px; color: #5a6570; width: 128px; }
.cell.big { width: 192px; }
.cell.small { width: 88px; }
.thumb { position: relative; width: 100%; background-size: 100% 100%; border: 1px solid #c9d1d9; }
.thumb .cam { position: absolute; inset: 0; background-size: 100% 100%; }
body:has(#hide-maps:checked) .thumb .cam { display: none; }
.cell.held { outline: 2px solid #1a7f37; }
.cell.trained { opacity: 0.75; }
.pair { display: flex; gap: 12px; align-items: flex-start; }
.plategrid { border-collapse: collapse; margin: 6px 0; }
.plategrid td { width: 16px; height: 14px; padding: 0; border: 1px solid #fff; cursor: pointer; }
.plategrid td.sel { outline: 2px solid #cf222e; }
.plategrid th { font-size: 9px; padding: 0 2px; background: none; border: none; }
.well-panel { border: 1px solid #d8dee4; padding: 6px 10px; margin: 6px 0; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.2f}"


def cam_png(cam: np.ndarray) -> bytes:
    """A class activation map (h, w) as an RGBA PNG: from the field's lowest value (transparent) to
    its highest (opaque red), so it shows where in the field the evidence for the class is strongest."""
    low, high = (float(cam.min()), float(cam.max())) if cam.size else (0.0, 0.0)
    level = np.clip((cam - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(cam)
    rgba = np.zeros((*cam.shape, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = (200 * (1 - level)).astype(np.uint8)
    rgba[..., 3] = (100 * level).astype(np.uint8)
    ok, buf = cv2.imencode(".png", rgba[..., [2, 1, 0, 3]])
    if not ok:
        raise AnalysisError(f"could not encode a {cam.shape} activation map as PNG")
    return buf.tobytes()


@dataclass
class Cells:
    """Thumbnails of a results folder and the fields and wells they belong to.

    Attributes
    ----------
    fields : pandas.DataFrame
        ``fields.parquet`` (ok fields), indexed by ``KEYS``.
    wells : pandas.DataFrame
        ``wells.parquet``.
    thumbs : pandas.DataFrame
        ``thumbnails.parquet`` indexed by ``KEYS`` (empty with ``images=False``).
    class_names : list of str
        Logit order (the order of the ``cam`` maps).
    """

    fields: pd.DataFrame
    wells: pd.DataFrame
    thumbs: pd.DataFrame
    class_names: list[str]
    _css: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, results_dir: Path, images: bool = True) -> Cells | None:
        """The cells of ``results_dir`` (None when it has no field table, e.g. a classical readout)."""
        fields_path, wells_path = results_dir / f"{FIELDS}.parquet", results_dir / f"{WELLS}.parquet"
        if not fields_path.is_file() or not wells_path.is_file():
            return None
        fields = pd.read_parquet(fields_path)
        # results written before a key existed (plane) are keyed by those they have
        keys = [k for k in KEYS if k in fields.columns]
        fields = fields[fields["status"] == OK].set_index(keys, drop=False).sort_index()
        thumb_path = results_dir / THUMBNAILS_FILE
        if images and thumb_path.is_file():
            thumbs = pd.read_parquet(thumb_path).set_index(keys, drop=False)
        else:
            thumbs = pd.DataFrame(columns=[*keys, "thumb_image"]).set_index(keys, drop=False)
        return cls(fields, pd.read_parquet(wells_path), thumbs, stored_class_names(fields))

    @property
    def has_images(self) -> bool:
        return len(self.thumbs) > 0

    # ----- one field -----------------------------------------------------------------------
    def _class_of(self, key: tuple, prefix: str, data: bytes, mime: str) -> str:
        name = f"{prefix}{len(self._css)}"
        self._css.setdefault(f"{prefix}{key}", f"{name}\t{mime}\t{base64.b64encode(data).decode('ascii')}")
        return self._css[f"{prefix}{key}"].split("\t", 1)[0]

    def tile(
        self, key: tuple, caption: str, cam_class: str | None = None, css: str = "", big: bool = False
    ) -> str:
        """HTML of one field's thumbnail (with the map of ``cam_class`` when the field has one)."""
        row = self.thumbs.loc[key]
        image = self._class_of(key, "t", row["thumb_image"], f"image/{row['thumb_format']}")
        overlay = ""
        cam = row.get("cam")
        if cam_class is not None and cam is not None and not (np.isscalar(cam) and pd.isna(cam)):
            grid = np.asarray(cam, np.float32).reshape(len(self.class_names), int(row["cam_height"]), -1)
            k = self.class_names.index(cam_class)
            overlay = (
                f'<div class="cam {self._class_of((*key, k), "c", cam_png(grid[k]), "image/png")}"></div>'
            )
        ratio = f"{int(row['thumb_width'])}/{int(row['thumb_height'])}"
        label = f"{key[0]} {key[1]} site {key[2]}"
        return (
            f'<div class="cell{" big" if big else ""}{css}" title="{_esc(label)}">'
            f'<div class="thumb {image}" role="img" aria-label="{_esc(label)}" style="aspect-ratio:{ratio}">'
            f"{overlay}</div>{caption}</div>"
        )

    def style(self) -> str:
        """The ``<style>`` with every thumbnail and map used so far, the cell CSS and the click script."""
        rules = []
        for entry in self._css.values():
            name, mime, data = entry.split("\t")
            rules.append(f".{name}{{background-image:url(data:{mime};base64,{data})}}")
        return f"<style>{STYLE}\n" + "\n".join(rules) + f"</style>\n{SCRIPT}"

    def _thumbed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of a field-keyed frame that have a thumbnail."""
        return frame[frame.index.isin(self.thumbs.index)]

    def _well_fields(self, wells: pd.DataFrame) -> pd.DataFrame:
        """Ok fields (with a thumbnail) of some wells."""
        pairs = set(zip(wells["plate"], wells["well"], strict=True))
        mask = [(p, w) in pairs for p, w in zip(self.fields["plate"], self.fields["well"], strict=True)]
        return self._thumbed(self.fields[mask])

    # ----- blocks ----------------------------------------------------------------------------
    def qc_strip(self, score: str, cam_class: str | None) -> str:
        """Negative and positive control fields per plate, with their QC score; held-out ones outlined."""
        if not self.has_images or "role" not in self.wells:
            return ""
        parts = [
            '<h3>Control fields</h3><p class="note">Per plate up to '
            f"{STRIP_FIELDS} negative and {STRIP_FIELDS} positive control wells (their first field), "
            f"with <b>{_esc(score)}</b> of the well; outlined green: held out from training (in Z'); "
            f"faded: the model trained on the well (left out of Z'). Maps (red): where in the field the M-CNN found the most evidence for "
            f"{_esc(cam_class or 'the positive class')}.</p>"
        ]
        for plate, wells in self.wells.groupby("plate", sort=True):
            for role in ("negative", "positive"):
                chosen = wells[wells["role"] == role].head(STRIP_FIELDS)
                tiles = []
                for well in chosen.to_dict("records"):
                    rows = self._well_fields(pd.DataFrame({"plate": [well["plate"]], "well": [well["well"]]}))
                    if rows.empty:
                        continue
                    trained = bool(well.get(IN_TRAINING, False))
                    css = " trained" if trained else " held"
                    caption = f"{_esc(well['well'])} {_fmt(well.get(score))}{' (trained)' if trained else ''}"
                    tiles.append(self.tile(rows.index[0], caption, cam_class, css))
                if tiles:
                    parts.append(f'<p>{_esc(plate)}: {role}</p><div class="strip">{"".join(tiles)}</div>')
        return "\n".join(parts)

    def dose_strips(self, potency: pd.DataFrame, group: str) -> dict[str, str]:
        """Per compound (``potency[group]``) a strip: per concentration the field whose readout is
        closest to the median readout of that concentration's wells."""
        if not self.has_images or group != "compound" or "response_class" not in potency:
            return {}
        out = {}
        for compound, cls in zip(potency[group], potency["response_class"], strict=True):
            column = logodds_column(cls) if logodds_column(cls) in self.fields else prob_column(cls)
            wells = self.wells[(self.wells["compound"] == compound) & (self.wells["role"] == "treated")]
            tiles = []
            for conc, at in wells.groupby("concentration", sort=True):
                fields = self._well_fields(at)
                if fields.empty:
                    continue
                median = float(at[column].median())
                best = (fields[column] - median).abs().idxmin()
                tiles.append(
                    self.tile(best, f"{conc:.3g} µM: {_fmt(fields.loc[best, column])}", css=" small")
                )
            if tiles:
                out[str(compound)] = (
                    f'<div><p class="note">{_esc(compound)}: a field per concentration, closest to the '
                    f'median {_esc(column)} of its wells</p><div class="strip">{"".join(tiles)}</div></div>'
                )
        return out

    def moa_fields(self, calls: pd.DataFrame) -> str:
        """Per called MoA, the fields of its treatments' wells most confident in that class."""
        if not self.has_images or "predicted_moa" not in calls:
            return ""
        parts = [
            f'<h3>Fields of each call</h3><p class="note">Per called MoA the {MOA_FIELDS} fields of its '
            "treated wells with the highest probability of that class; maps (red): where in the field the M-CNN found the most evidence for it.</p>"
        ]
        treated = calls[calls["role"] == "treated"] if "role" in calls else calls
        for moa, group in treated.groupby("predicted_moa", sort=True):
            if moa not in self.class_names:
                continue
            keys = set(zip(group["compound"], group["concentration"], strict=True))
            wells = self.wells[
                [
                    (c, x) in keys
                    for c, x in zip(self.wells["compound"], self.wells["concentration"], strict=True)
                ]
            ]
            fields = self._well_fields(wells)
            top = fields.sort_values(prob_column(moa), ascending=False).head(MOA_FIELDS)
            treatment = self.wells.set_index(["plate", "well"])
            tiles = [
                self.tile(
                    key,
                    f"{_esc(treatment.loc[(key[0], key[1]), 'compound'])} "
                    f"{treatment.loc[(key[0], key[1]), 'concentration']:g} µM: p {_fmt(top.loc[key, prob_column(moa)])}",
                    moa,
                )
                for key in top.index
            ]
            if tiles:
                parts.append(f'<p>{_esc(moa)}</p><div class="strip">{"".join(tiles)}</div>')
        return "\n".join(parts) if len(parts) > 1 else ""

    def flagged(self) -> str:
        """The image-QC-flagged fields that have a thumbnail, with their flags."""
        if not self.has_images:
            return ""
        flags = [c for c in QC_FLAGS if c in self.fields]
        bad = self.fields[self.fields[flags].any(axis=1)]
        shown = self._thumbed(bad)
        if bad.empty:
            return ""
        tiles = [
            self.tile(key, f"{_esc(key[1])} s{key[2]}: " + ", ".join(f[3:] for f in flags if row[f]))
            for key, row in shown.head(MAX_FLAGGED).iterrows()
        ]
        extra = int((self.thumbs["thumb_why"] == THUMB_QC).sum()) if "thumb_why" in self.thumbs else 0
        return (
            f'<p class="note">{len(shown)} of the {len(bad)} flagged fields have a thumbnail (each well\'s '
            f"first field, and {extra} fields flagged empty or saturated while scoring); "
            f'up to {MAX_FLAGGED} shown.</p><div class="strip">{"".join(tiles)}</div>'
        )

    def explorer(self, score: str) -> str:
        """Plate grids coloured by ``score``; clicking a well shows its fields, scores and thumbnails."""
        import matplotlib.colors
        from matplotlib import colormaps

        cmap = colormaps["viridis"]
        parts = [
            '<p class="note">Click a well to see its fields: thumbnail (when kept), predicted class, '
            f"confidence and <b>{_esc(score)}</b>. Colour: the well's {_esc(score)} (0 dark, 1 yellow).</p>"
        ]
        if self.has_images:
            parts.append(
                '<label class="note"><input type="checkbox" id="hide-maps"> hide activation maps</label>'
            )
        panel_id = 0
        for plate, wells in self.wells.groupby("plate", sort=True):
            # the standard plate (96 / 384 / 1536 wells) that holds the wells, as the heatmaps draw it
            n_rows, n_cols = plate_shape_for([str(w) for w in wells["well"]])
            cells = {split_well(str(w["well"])): w for w in wells.to_dict("records")}
            grid = ["<tr><th></th>" + "".join(f"<th>{c}</th>" for c in range(1, n_cols + 1)) + "</tr>"]
            panels = []
            for r in range(1, n_rows + 1):
                letter = row_label(r)
                tds = []
                for c in range(1, n_cols + 1):
                    name = f"{letter}{c:02d}"
                    well = cells.get((letter, c))
                    if well is None:
                        tds.append('<td style="background:#eee;cursor:default"></td>')
                        continue
                    value = well.get(score, float("nan"))
                    colour = (
                        "#bbb"
                        if pd.isna(value)
                        else matplotlib.colors.to_hex(cmap(float(np.clip(value, 0, 1))))
                    )
                    panel_id += 1
                    tds.append(
                        f'<td data-well="{panel_id}" title="{_esc(name)} {_fmt(value)}" style="background:{colour}"></td>'
                    )
                    panels.append(self._panel(panel_id, plate, well, score))
                grid.append(f"<tr><th>{letter}</th>{''.join(tds)}</tr>")
            parts.append(
                f'<div class="explorer"><h3>{_esc(plate)}</h3><table class="plategrid">{"".join(grid)}</table>'
                + "".join(panels)
                + "</div>"
            )
        return "\n".join(parts)

    def _panel(self, panel_id: int, plate: str, well: dict[str, Any], score: str) -> str:
        fields = self.fields[(self.fields["plate"] == plate) & (self.fields["well"] == well["well"])]
        described = ", ".join(
            f"{k} {_esc(well[k])}"
            for k in ("compound", "concentration", "role", "moa")
            if k in well and not pd.isna(well[k])
        )
        rows = "".join(
            f"<tr><td>{key[2]}</td><td>{_esc(f['predicted_class'])}</td><td>{_fmt(f['confidence'])}</td>"
            f"<td>{_fmt(f.get(score))}</td><td>{_esc(', '.join(q[3:] for q in QC_FLAGS if f.get(q)))}</td></tr>"
            for key, f in fields.iterrows()
        )
        tiles = "".join(
            self.tile(
                key,
                f"site {key[2]}: {_esc(f['predicted_class'])} {_fmt(f['confidence'])}",
                f["predicted_class"],
                big=True,
            )
            for key, f in self._thumbed(fields).iterrows()
        )
        return (
            f'<div class="well-panel" id="well-{panel_id}" hidden><b>{_esc(plate)} {_esc(well["well"])}</b> '
            f"({described}; well {_esc(score)} {_fmt(well.get(score))})"
            f'<div class="strip">{tiles}</div>'
            "<table><tr><th>site</th><th>predicted class</th><th>confidence</th>"
            f"<th>{_esc(score)}</th><th>image QC</th></tr>{rows}</table></div>"
        )
