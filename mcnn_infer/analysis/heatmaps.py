"""Plate heatmaps (8x12, 16x24, 32x48) of the predicted class and of a per-well score, as PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.io import save_figure
from mcnn_infer.errors import PlateError
from mcnn_infer.wells import PLATE_SHAPES, plate_shape_for, row_index, row_label, split_well


def plate_grid(
    wells: pd.Series, values: pd.Series, shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """Place per-well values on a plate grid.

    Parameters
    ----------
    wells : pandas.Series of str
        Well names (``B02``) of one plate.
    values : pandas.Series of float
        Value per well, aligned with ``wells``.
    shape : (rows, cols), optional
        Plate shape; by default the smallest of 8x12, 16x24, 32x48 that holds all wells.

    Returns
    -------
    grid : numpy.ndarray, shape (rows, cols), float
        Values at [row - 1, col - 1]; NaN where a well has no value.
    shape : (rows, cols)
    """
    try:
        names = [str(w) for w in wells]
        shape = shape or plate_shape_for(names)
        if shape not in PLATE_SHAPES.values():
            raise AnalysisError(
                f"plate heatmap: wells up to {names[-1]!r} need a {shape[0]}x{shape[1]} grid; "
                f"expected a plate of {sorted(PLATE_SHAPES)} wells"
            )
        grid = np.full(shape, np.nan)
        for well, value in zip(names, values, strict=True):
            r, c = split_well(well)
            ri = row_index(r)
            if ri > shape[0] or c > shape[1]:
                raise AnalysisError(f"well {well!r} outside a {shape[0]}x{shape[1]} plate")
            grid[ri - 1, c - 1] = value
    except PlateError as exc:
        raise AnalysisError(f"plate heatmap: {exc}") from exc
    return grid, shape


def _decorate(ax: plt.Axes, shape: tuple[int, int], title: str) -> None:
    rows, cols = shape
    step = 1 if cols <= 24 else 2
    ax.set_xticks(np.arange(0, cols, step))
    ax.set_xticklabels([str(c + 1) for c in range(0, cols, step)], fontsize=7 if cols > 12 else 9)
    ax.set_yticks(np.arange(0, rows, step))
    ax.set_yticklabels([row_label(r + 1) for r in range(0, rows, step)], fontsize=7 if rows > 8 else 9)
    ax.set_title(title, fontsize=10)
    ax.tick_params(length=0)


def _figsize(shape: tuple[int, int]) -> tuple[float, float]:
    return {96: (7.0, 4.2), 384: (9.0, 5.4), 1536: (12.0, 7.4)}.get(shape[0] * shape[1], (9.0, 5.4))


def score_heatmap(plate_wells: pd.DataFrame, column: str, path: str | Path, title: str | None = None) -> Path:
    """Heatmap of a per-well score for one plate.

    Parameters
    ----------
    plate_wells : pandas.DataFrame
        Wells of one plate with ``well`` and ``column``.
    column : str
        Score to show (e.g. ``prob_<class>`` in [0, 1], or a readout in its own units).
    path : str or Path
        Output PNG.
    """
    if column not in plate_wells.columns:
        raise AnalysisError(
            f"score heatmap: column {column!r} missing; available {list(plate_wells.columns)}"
        )
    grid, shape = plate_grid(plate_wells["well"], plate_wells[column].astype(float))
    fig, ax = plt.subplots(figsize=_figsize(shape))
    is_prob = column.startswith("prob_") or column == "confidence"
    im = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap="viridis",
        vmin=0.0 if is_prob else None,
        vmax=1.0 if is_prob else None,
        aspect="equal",
    )
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label=column)
    _decorate(ax, shape, title or column)
    return save_figure(fig, path)


def class_heatmap(
    plate_wells: pd.DataFrame, class_names: list[str], path: str | Path, title: str | None = None
) -> Path:
    """Heatmap of the predicted class of each well of one plate (categorical colours + legend).

    Parameters
    ----------
    plate_wells : pandas.DataFrame
        Wells of one plate with ``well`` and ``predicted_class``.
    class_names : list of str
        All classes (colour index = position).
    path : str or Path
        Output PNG.
    """
    unknown = sorted(set(plate_wells["predicted_class"].dropna().astype(str)) - set(class_names))
    if unknown:
        raise AnalysisError(
            f"class heatmap: predicted class(es) {unknown} not in the model classes {class_names}"
        )
    index = plate_wells["predicted_class"].map({c: i for i, c in enumerate(class_names)}).astype(float)
    grid, shape = plate_grid(plate_wells["well"], index)
    n = len(class_names)
    base = plt.get_cmap("tab20" if n > 10 else "tab10")
    cmap = ListedColormap([base(i % base.N) for i in range(n)])
    fig, ax = plt.subplots(figsize=_figsize(shape))
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=BoundaryNorm(np.arange(-0.5, n), n), aspect="equal")
    present = sorted({int(v) for v in index.dropna()})
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i)) for i in present]
    ax.legend(
        handles,
        [class_names[i] for i in present],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        frameon=False,
    )
    _decorate(ax, shape, title or "predicted class")
    return save_figure(fig, path)
