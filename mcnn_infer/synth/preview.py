"""Contact sheet of a synthetic screen: one field per MoA at its strongest phenotype, as a PNG.

Channels are shown as colours (DAPI blue, Tubulin green, Actin red), each scaled between
its 0.5th and 99.8th percentile in that field.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from mcnn_infer.atomic import atomic_path
from mcnn_infer.errors import ConfigError
from mcnn_infer.synth.phenotypes import DMSO, MOAS
from mcnn_infer.synth.render import CHANNELS


def pick_fields(truth_fields: pd.DataFrame) -> pd.DataFrame:
    """One row of ``truth_fields`` per class (DMSO first, then MoAs in :data:`MOAS` order).

    For each class the field with the highest phenotype strength is taken, skipping
    out-of-focus and nearly empty fields when possible; ties go to the first field.
    """
    good = truth_fields[~(truth_fields["out_of_focus"] | truth_fields["nearly_empty"])]
    picks = []
    for label in (DMSO, *MOAS, "unannotated"):
        rows = good[good["moa"] == label]
        if rows.empty:
            rows = truth_fields[truth_fields["moa"] == label]
        if rows.empty:
            continue
        picks.append(rows.loc[rows["strength"].idxmax()])
    return pd.DataFrame(picks).reset_index(drop=True)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Display colours of a (3, H, W) DAPI/Tubulin/Actin field as float (H, W, 3) RGB in [0, 1]."""
    data = image.astype(np.float32)
    low = np.percentile(data, 0.5, axis=(1, 2))[:, None, None]
    high = np.percentile(data, 99.8, axis=(1, 2))[:, None, None]
    scaled = np.clip((data - low) / np.maximum(high - low, 1.0), 0.0, 1.0)
    return np.stack([scaled[2], scaled[1], scaled[0]], axis=-1)  # R actin, G tubulin, B DAPI


def contact_sheet(out_dir: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> Path:
    """Write a contact sheet PNG of a screen written by :func:`~mcnn_infer.synth.writer.generate`.

    Parameters
    ----------
    out_dir : path
        The screen's folder (holds ``truth_fields.csv`` and the plate folders).
    path : path, optional
        PNG to write; ``out_dir/preview.png`` by default.

    Returns
    -------
    Path
        The PNG written.

    Raises
    ------
    ConfigError
        If ``out_dir`` holds no ``truth_fields.csv`` or no field.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(out_dir)
    truth_path = folder / "truth_fields.csv"
    if not truth_path.exists():
        raise ConfigError(f"{truth_path} does not exist (expected a screen written by `hcs synth`)")
    picks = pick_fields(pd.read_csv(truth_path))
    if picks.empty:
        raise ConfigError(f"{truth_path} lists no fields (expected at least one)")
    target = Path(path) if path is not None else folder / "preview.png"
    cols = min(5, len(picks))
    rows = math.ceil(len(picks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, pick in zip(axes.ravel(), picks.itertuples(index=False), strict=False):
        image = np.stack([tifffile.imread(folder / getattr(pick, f"file_{ch}")) for ch in CHANNELS])
        ax.imshow(to_rgb(image), interpolation="nearest")
        title = f"{pick.moa}\n{pick.compound} {pick.concentration:g} µM, s={pick.strength:.2f}"
        ax.set_title(title, fontsize=8)
    fig.suptitle(
        "hcs synth: one field per MoA at its strongest dose (R actin, G tubulin, B DAPI)", fontsize=10
    )
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return target
