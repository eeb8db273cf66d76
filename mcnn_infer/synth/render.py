"""Render one synthetic 3-channel fluorescence field (DAPI, Tubulin, Actin) from phenotype parameters.

Geometry is defined for a 1024x1280 field of view and scaled to the requested image
size, so a 256x320 image shows the same cells at a quarter of the resolution. Cells are
ellipses with random harmonic boundary perturbations; nuclei are ellipses (rings or
clusters of condensed chromosomes for mitotic cells) with a chromatin texture;
microtubules and stress fibres are traced as point clouds along curved lines, splatted
with :func:`numpy.bincount` and blurred (no per-pixel Python loops). The camera model
adds background, uneven illumination (vignetting), optional defocus, Poisson-Gaussian
noise (Gaussian approximation of the shot noise) and 12-bit quantisation stored in
16-bit (multiples of 16, like BBBC021).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from mcnn_infer.metadata import BBBC021_CHANNEL_NAMES

#: Channel keys (BBBC021 wavelength suffixes) in image order, and their stains.
CHANNELS: tuple[str, ...] = ("w1", "w2", "w4")
CHANNEL_NAMES: dict[str, str] = BBBC021_CHANNEL_NAMES

REFERENCE_SIZE = (1024, 1280)
_BASE_CELLS = 200  # cells in a DMSO field of view
_BASE_RADIUS = 30.0  # px at REFERENCE_SIZE
_CAMERA_OFFSET = 200.0  # ADU
_BACKGROUND = np.array([260.0, 190.0, 210.0], dtype=np.float32)  # autofluorescence, ADU
_ADU_PER_ELECTRON = 3.0
_READ_NOISE = 8.0  # ADU
_POINTS = 8  # minimum samples per traced filament


@dataclass(frozen=True)
class Acquisition:
    """Imaging conditions of a field (batch effects and rare defects).

    Attributes
    ----------
    gain : tuple of 3 float
        Multiplier of the stained signal per channel (DAPI, Tubulin, Actin).
    background : tuple of 3 float
        Multiplier of the background autofluorescence per channel.
    vignetting : float
        Relative illumination loss at the field corners (0 = flat).
    out_of_focus : bool
        Blur the field as if the autofocus failed.
    nearly_empty : bool
        Keep only a few cells (for example a scratched or badly seeded well).
    """

    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    vignetting: float = 0.2
    out_of_focus: bool = False
    nearly_empty: bool = False


@dataclass
class _Cells:
    y: np.ndarray
    x: np.ndarray
    a: np.ndarray  # major semi-axis, px
    b: np.ndarray  # minor semi-axis, px
    radius: np.ndarray  # nominal radius, px
    theta: np.ndarray  # orientation, rad
    harm: np.ndarray  # (n, 3) boundary harmonic amplitudes for k = 2, 3, 4
    phase: np.ndarray  # (n, 3)
    kind: np.ndarray  # 0 interphase, 1 multinucleate, 2 mitotic (bipolar), 3 arrested
    var: np.ndarray  # (n, 3) per-cell brightness factor per channel


def render_field(
    params: Mapping[str, float],
    arrest_style: str,
    size: tuple[int, int],
    rng: np.random.Generator,
    acquisition: Acquisition | None = None,
) -> np.ndarray:
    """Render one field.

    Parameters
    ----------
    params : mapping
        Phenotype parameters (:data:`mcnn_infer.synth.phenotypes.DMSO_PARAMS` keys).
    arrest_style : str
        Look of arrested cells: ``bipolar``, ``monoaster``, ``multiaster`` or ``scattered``.
    size : (int, int)
        Image height and width in pixels (each >= 16).
    rng : numpy.random.Generator
        Source of randomness (the field is a pure function of its state).
    acquisition : Acquisition, optional
        Batch effects and defects; defaults to :class:`Acquisition()`.

    Returns
    -------
    numpy.ndarray
        uint16 array of shape (3, H, W): channels DAPI, Tubulin, Actin (order of :data:`CHANNELS`),
        raw camera units (ADU).
    """
    acq = acquisition or Acquisition()
    height, width = int(size[0]), int(size[1])
    scale = math.sqrt(height * width / (REFERENCE_SIZE[0] * REFERENCE_SIZE[1]))
    cells = _draw_cells(params, arrest_style, height, width, scale, rng, acq.nearly_empty)

    dapi = np.zeros((height, width), np.float32)
    tub = np.zeros((height, width), np.float32)
    act = np.zeros((height, width), np.float32)
    _paint_bodies(cells, params, scale, tub, act)
    nuclei = _nuclei(cells, params, arrest_style, rng)
    _paint_nuclei(nuclei, dapi)
    texture = _smooth_noise(rng, (height, width), max(0.7, 1.6 * scale))
    dapi *= np.clip(1.0 + params["chromatin"] * texture, 0.0, None)

    thin_tub, thick_tub, thin_act, thick_act = _filaments(cells, params, arrest_style, scale, rng)
    sigma_thin = max(0.5, 1.0 * scale)
    sigma_thick = max(0.8, 2.2 * scale)
    tub += ndi.gaussian_filter(_splat(thin_tub, height, width), sigma_thin)
    tub += ndi.gaussian_filter(_splat(thick_tub, height, width), sigma_thick)
    act += ndi.gaussian_filter(_splat(thin_act, height, width), sigma_thin)
    act += ndi.gaussian_filter(_splat(thick_act, height, width), sigma_thick)
    dapi = ndi.gaussian_filter(dapi, max(0.4, 0.8 * scale))

    signal = np.stack([dapi, tub, act])
    if acq.out_of_focus:
        signal = ndi.gaussian_filter(signal, (0, 5.0 * scale + 1.0, 5.0 * scale + 1.0))
    return _camera(signal, acq, rng)


def _draw_cells(
    params: Mapping[str, float],
    arrest_style: str,
    height: int,
    width: int,
    scale: float,
    rng: np.random.Generator,
    nearly_empty: bool,
) -> _Cells:
    radius0 = _BASE_RADIUS * scale * params["cell_scale"]
    n = int(rng.poisson(_BASE_CELLS * params["density"] * (0.04 if nearly_empty else 1.0)))
    n_cluster = int(rng.binomial(n, params["cluster"]))
    n_islands = max(1, round(n_cluster / 10))
    centres = rng.uniform((0, 0), (height, width), size=(n_islands, 2))
    clustered = centres[rng.integers(n_islands, size=n_cluster)] + rng.normal(
        0.0, 1.7 * radius0, size=(n_cluster, 2)
    )
    margin = 0.5 * radius0
    scattered = rng.uniform((-margin, -margin), (height + margin, width + margin), size=(n - n_cluster, 2))
    pos = np.concatenate([clustered, scattered])

    u = rng.random(n)
    arrest, mitotic, multinuc = params["arrest"], params["mitotic"], params["multinuc"]
    kind = np.zeros(n, np.int8)
    kind[u < arrest] = 3
    kind[(u >= arrest) & (u < arrest + mitotic)] = 2
    kind[(u >= arrest + mitotic) & (u < arrest + mitotic + multinuc)] = 1

    radius = radius0 * np.exp(rng.normal(0.0, 0.18, n))
    rounded = kind >= 2
    radius[rounded] *= 0.6
    if arrest_style == "bipolar":
        radius[kind == 3] *= 2.0  # polyploid giant cells (Aurora kinase inhibition)
    radius[kind == 1] *= 1.3
    elong = 1.0 + (params["aspect"] - 1.0) * rng.gamma(2.0, 0.5, n)
    elong[rounded] = 1.05
    irregular = params["irregularity"] * np.where(rounded, 0.3, 1.0)
    harm = irregular[:, None] * rng.normal(0.0, 1.0, (n, 3)) / np.array([1.0, 1.5, 2.0])
    return _Cells(
        y=pos[:, 0],
        x=pos[:, 1],
        a=radius * np.sqrt(elong),
        b=radius / np.sqrt(elong),
        radius=radius,
        theta=rng.uniform(0.0, np.pi, n),
        harm=harm,
        phase=rng.uniform(0.0, 2 * np.pi, (n, 3)),
        kind=kind,
        var=np.exp(rng.normal(0.0, 0.22, (n, 3))),
    )


def _patches(cy: np.ndarray, cx: np.ndarray, extent: np.ndarray, height: int, width: int, chunk: int = 32):
    """Square pixel patches around many centres, in chunks of similar size (vectorised rasterising).

    Yields ``(idx, dy, dx, flat, valid)``: indices of the objects in the chunk (m,), pixel
    offsets from their centres ``dy``/``dx`` (m, K, K) float32, flat pixel indices (m, K, K)
    and a mask of pixels inside the image (m, K, K).
    """
    order = np.argsort(extent, kind="stable")
    for start in range(0, order.size, chunk):
        idx = order[start : start + chunk]
        half = int(np.ceil(extent[idx].max()))
        offsets = np.arange(-half, half + 1)
        py = np.floor(cy[idx]).astype(np.int64)[:, None, None] + offsets[None, :, None]
        px = np.floor(cx[idx]).astype(np.int64)[:, None, None] + offsets[None, None, :]
        valid = (py >= 0) & (py < height) & (px >= 0) & (px < width)
        dy = (py - cy[idx, None, None]).astype(np.float32)
        dx = (px - cx[idx, None, None]).astype(np.float32)
        yield idx, dy, dx, py * width + px, valid


def _harmonics(cells: _Cells, idx: np.ndarray, along: np.ndarray, across: np.ndarray) -> np.ndarray:
    """Boundary factor ``1 + sum_k h_k cos(k phi + p_k)`` (k = 2, 3, 4) at angle ``phi`` of (along, across).

    Uses the multiple-angle formulas on ``cos phi`` and ``sin phi`` (no arctan2), float32.
    """
    norm = np.sqrt(along**2 + across**2) + np.float32(1e-6)
    c, s = along / norm, across / norm
    c2 = c * c
    cos_k = (2 * c2 - 1, c * (4 * c2 - 3), 8 * c2 * (c2 - 1) + 1)
    sin_k = (2 * s * c, s * (4 * c2 - 1), 4 * s * c * (2 * c2 - 1))
    factor = np.ones_like(along)
    for j in range(3):
        h = cells.harm[idx, j].astype(np.float32)[:, None, None]
        p = cells.phase[idx, j]
        cp = np.cos(p).astype(np.float32)[:, None, None]
        sp = np.sin(p).astype(np.float32)[:, None, None]
        factor += h * (cos_k[j] * cp - sin_k[j] * sp)
    return factor


class _Accumulator:
    """Collects weighted pixel indices and adds them to an image with one :func:`numpy.bincount`."""

    def __init__(self, target: np.ndarray) -> None:
        self.target = target
        self.flat: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []

    def add(self, flat: np.ndarray, valid: np.ndarray, weights: np.ndarray) -> None:
        keep = valid & (weights != 0)
        self.flat.append(flat[keep])
        self.weights.append(weights[keep])

    def flush(self) -> None:
        if self.flat:
            summed = np.bincount(
                np.concatenate(self.flat), weights=np.concatenate(self.weights), minlength=self.target.size
            )
            self.target += summed.reshape(self.target.shape).astype(np.float32)
        self.flat, self.weights = [], []


def _paint_bodies(
    cells: _Cells, params: Mapping[str, float], scale: float, tub: np.ndarray, act: np.ndarray
) -> None:
    """Add diffuse tubulin and diffuse + cortical actin of every cell (in place)."""
    height, width = tub.shape
    if cells.y.size == 0:
        return
    tub_level = 260.0 * params["tub_diffuse"] * params["bright_tub"]
    act_level = 170.0 * params["act_diffuse"] * params["bright_act"]
    cortex_level = 420.0 * params["act_cortex"] * params["bright_act"]
    cortex_width = max(1.0, 2.5 * scale)
    extent = cells.a * (1.0 + 3.0 * np.abs(cells.harm).sum(axis=1)) + 2.0
    boost = np.where(cells.kind >= 2, 1.7, 1.0)
    f32 = np.float32
    tub_sum, act_sum = _Accumulator(tub), _Accumulator(act)
    for idx, dy, dx, flat, valid in _patches(cells.y, cells.x, extent, height, width):
        cos_t = np.cos(cells.theta[idx]).astype(f32)[:, None, None]
        sin_t = np.sin(cells.theta[idx]).astype(f32)[:, None, None]
        along = dx * cos_t + dy * sin_t
        across = -dx * sin_t + dy * cos_t
        a = cells.a[idx].astype(f32)[:, None, None]
        b = cells.b[idx].astype(f32)[:, None, None]
        rho = np.sqrt((along / a) ** 2 + (across / b) ** 2)
        rho /= np.maximum(_harmonics(cells, idx, along, across), f32(0.4))
        radius = cells.radius[idx].astype(f32)[:, None, None]
        inside = np.clip((1.0 - rho) * radius / 1.2 + 0.5, 0.0, 1.0)
        ring = np.exp(-((((1.0 - rho) * radius) / cortex_width) ** 2)) * (rho < 1.2)
        tub_w = (tub_level * boost[idx] * cells.var[idx, 1]).astype(f32)[:, None, None]
        tub_sum.add(flat, valid, tub_w * inside * (0.45 + 0.55 * np.clip(1 - rho**2, 0, 1)))
        act_w = cells.var[idx, 2].astype(f32)[:, None, None]
        cortex = (cortex_level * boost[idx]).astype(f32)[:, None, None]
        act_sum.add(flat, valid, act_w * (act_level * inside + cortex * ring))
    tub_sum.flush()
    act_sum.flush()


@dataclass
class _Nuclei:
    y: np.ndarray
    x: np.ndarray
    ry: np.ndarray  # semi-axis along theta, px
    rx: np.ndarray
    theta: np.ndarray
    bright: np.ndarray
    ring: np.ndarray  # bool: DNA ring around a monopolar spindle
    owner: np.ndarray  # index of the cell


def _nuclei(
    cells: _Cells, params: Mapping[str, float], arrest_style: str, rng: np.random.Generator
) -> _Nuclei:
    """Nuclei, condensed chromosomes and micronuclei of all cells."""
    parts: list[tuple[np.ndarray, ...]] = []
    r = cells.radius
    base = params["nuc_bright"]

    def add(idx, dy, dx, ry, rx, theta, bright, ring=False):
        if idx.size:
            parts.append(
                (cells.y[idx] + dy, cells.x[idx] + dx, ry, rx, theta, bright, np.full(idx.size, ring), idx)
            )

    # Interphase nuclei.
    idx = np.flatnonzero(cells.kind == 0)
    rn = r[idx] * params["nuc_ratio"] * np.exp(rng.normal(0.0, 0.1, idx.size))
    el = 1.0 + rng.gamma(2.0, 0.12, idx.size)
    off = rng.normal(0.0, 0.12, (2, idx.size)) * r[idx]
    add(
        idx,
        off[0],
        off[1],
        rn * np.sqrt(el),
        rn / np.sqrt(el),
        cells.theta[idx],
        base * np.exp(rng.normal(0, 0.15, idx.size)),
    )
    # Micronuclei next to some interphase nuclei.
    has_micro = idx[rng.random(idx.size) < params["micronuclei"]]
    for _ in range(2):
        ang = rng.uniform(0, 2 * np.pi, has_micro.size)
        dist = r[has_micro] * params["nuc_ratio"] * rng.uniform(1.2, 1.6, has_micro.size)
        mr = r[has_micro] * params["nuc_ratio"] * 0.22
        add(
            has_micro,
            dist * np.sin(ang),
            dist * np.cos(ang),
            mr,
            mr,
            ang,
            np.full(has_micro.size, 1.1 * base),
        )
        has_micro = has_micro[rng.random(has_micro.size) < 0.5]
    # Multinucleate cells: 2-4 smaller nuclei around the centre.
    idx = np.flatnonzero(cells.kind == 1)
    count = rng.integers(2, 5, idx.size)
    for j in range(4):
        sel = idx[count > j]
        ang = 2 * np.pi * j / count[count > j] + cells.theta[sel]
        dist = 0.42 * r[sel]
        rn = r[sel] * params["nuc_ratio"] * 0.72
        add(sel, dist * np.sin(ang), dist * np.cos(ang), rn, rn * 0.85, ang, np.full(sel.size, base))
    # Normal mitoses: a metaphase plate perpendicular to the spindle (cell axis).
    idx = np.flatnonzero(cells.kind == 2)
    _plate(add, idx, r, cells.theta, 2.2 * base)
    # Arrested cells.
    idx = np.flatnonzero(cells.kind == 3)
    if arrest_style == "monoaster":
        add(
            idx,
            0.0,
            0.0,
            0.38 * r[idx],
            0.38 * r[idx],
            cells.theta[idx],
            np.full(idx.size, 2.0 * base),
            ring=True,
        )
    elif arrest_style in ("scattered", "multiaster"):
        pieces = 6 if arrest_style == "scattered" else 3
        size = 0.11 if arrest_style == "scattered" else 0.17
        for _ in range(pieces):
            ang = rng.uniform(0, 2 * np.pi, idx.size)
            dist = rng.uniform(0.0, 0.38, idx.size) * r[idx]
            rr = size * r[idx] * np.exp(rng.normal(0, 0.2, idx.size))
            add(idx, dist * np.sin(ang), dist * np.cos(ang), rr, rr * 0.7, ang, np.full(idx.size, 2.3 * base))
    else:
        _plate(add, idx, r, cells.theta, 1.8 * base)
    if not parts:
        empty = np.zeros(0)
        return _Nuclei(empty, empty, empty, empty, empty, empty, np.zeros(0, bool), np.zeros(0, int))
    cols = [np.concatenate([np.broadcast_to(p[k], p[7].shape) for p in parts]) for k in range(8)]
    return _Nuclei(*cols[:6], ring=cols[6].astype(bool), owner=cols[7].astype(int))


def _plate(add, idx: np.ndarray, r: np.ndarray, theta: np.ndarray, bright: float) -> None:
    add(idx, 0.0, 0.0, 0.45 * r[idx], 0.13 * r[idx], theta[idx] + np.pi / 2, np.full(idx.size, bright))


def _paint_nuclei(nuclei: _Nuclei, dapi: np.ndarray) -> None:
    """Add every nucleus to the DAPI image (in place), 2400 ADU times its brightness."""
    height, width = dapi.shape
    if nuclei.y.size == 0:
        return
    ry, rx = np.maximum(nuclei.ry, 0.6), np.maximum(nuclei.rx, 0.6)
    extent = np.maximum(ry, rx) + 2.0
    dapi_sum = _Accumulator(dapi)
    for idx, dy, dx, flat, valid in _patches(nuclei.y, nuclei.x, extent, height, width):
        cos_t = np.cos(nuclei.theta[idx])[:, None, None].astype(np.float32)
        sin_t = np.sin(nuclei.theta[idx])[:, None, None].astype(np.float32)
        along = dx * cos_t + dy * sin_t
        across = -dx * sin_t + dy * cos_t
        rho = np.sqrt(
            (along / ry[idx].astype(np.float32)[:, None, None]) ** 2
            + (across / rx[idx].astype(np.float32)[:, None, None]) ** 2
        )
        soft = np.minimum(ry[idx], rx[idx]).astype(np.float32)[:, None, None]
        mask = np.clip((1.0 - rho) * soft + 0.5, 0.0, 1.0)
        ring = nuclei.ring[idx][:, None, None]
        mask = mask - ring * np.clip((0.55 - rho) * soft + 0.5, 0.0, 1.0)
        weight = (2400.0 * nuclei.bright[idx]).astype(np.float32)[:, None, None]
        dapi_sum.add(flat, valid, weight * mask * (0.85 + 0.15 * np.minimum(rho, 1.0)))
    dapi_sum.flush()


def _trace(
    y0: np.ndarray, x0: np.ndarray, phi: np.ndarray, length: np.ndarray, kappa: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along curved lines starting at (y0, x0) with direction ``phi`` and curvature ``kappa``.

    Returns flat arrays (y, x, w) with the same number of samples per line (about one per pixel
    of the longest line, at least ``_POINTS``); ``w`` is the line's weight per pixel of length
    times the sampling step, so brightness does not depend on sampling.
    """
    points = int(min(256, max(_POINTS, np.ceil(float(length.max(initial=0.0)) / 0.8))))
    t = (np.arange(points, dtype=np.float32) + 0.5) / points
    ang = phi[:, None] + kappa[:, None] * t[None, :]
    dist = length[:, None] * t[None, :]
    ys = y0[:, None] + dist * np.sin(ang)
    xs = x0[:, None] + dist * np.cos(ang)
    ws = np.repeat((weight * length / points)[:, None], points, axis=1)
    return ys.ravel(), xs.ravel(), ws.ravel()


def _splat(
    points: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], height: int, width: int
) -> np.ndarray:
    """Sum point weights into a (height, width) float32 image (nearest pixel)."""
    if not points:
        return np.zeros((height, width), np.float32)
    ys = np.concatenate([p[0] for p in points])
    xs = np.concatenate([p[1] for p in points])
    ws = np.concatenate([p[2] for p in points])
    yi = np.rint(ys).astype(np.int64)
    xi = np.rint(xs).astype(np.int64)
    keep = (yi >= 0) & (yi < height) & (xi >= 0) & (xi < width)
    flat = np.bincount(yi[keep] * width + xi[keep], weights=ws[keep], minlength=height * width)
    return flat.reshape(height, width).astype(np.float32)


def _filaments(
    cells: _Cells,
    params: Mapping[str, float],
    arrest_style: str,
    scale: float,
    rng: np.random.Generator,
):
    """Point clouds of microtubules, bundles, spindles, stress fibres and actin aggregates."""
    thin_tub: list = []
    thick_tub: list = []
    thin_act: list = []
    thick_act: list = []
    interphase = np.flatnonzero(cells.kind <= 1)
    r = cells.radius
    rel = r / max(_BASE_RADIUS * scale, 1e-6)
    tub_w = 230.0 * params["bright_tub"]
    act_w = 260.0 * params["bright_act"]

    # Microtubules radiating from near the nucleus towards the cell edge.
    counts = rng.poisson(22.0 * params["tub_fil"] * rel[interphase])
    owner = np.repeat(interphase, counts)
    if owner.size:
        phi = rng.uniform(0, 2 * np.pi, owner.size)
        reach = _reach(cells, owner, phi) * rng.uniform(0.55, 1.0, owner.size)
        jitter = rng.normal(0, 0.1, (2, owner.size)) * r[owner]
        thin_tub.append(
            _trace(
                cells.y[owner] + jitter[0],
                cells.x[owner] + jitter[1],
                phi,
                reach,
                rng.normal(0, 0.5, owner.size),
                tub_w * cells.var[owner, 1] * rng.uniform(0.5, 1.5, owner.size),
            )
        )
    # Thick bundles curling around the nucleus (microtubule stabilizers).
    counts = rng.poisson(7.0 * params["tub_bundle"] * np.ones(interphase.size))
    owner = np.repeat(interphase, counts)
    if owner.size:
        rad = r[owner] * params["nuc_ratio"] * rng.uniform(1.0, 1.7, owner.size)
        start = rng.uniform(0, 2 * np.pi, owner.size)
        # A chord of the circle of radius `rad`, bent to follow it: tangent start, curvature = span.
        span = rng.uniform(1.0, 2.5, owner.size)
        y0 = cells.y[owner] + rad * np.sin(start)
        x0 = cells.x[owner] + rad * np.cos(start)
        thick_tub.append(
            _trace(y0, x0, start + np.pi / 2, rad * span, span, 4.5 * tub_w * np.ones(owner.size))
        )
    # Spindle asters of mitotic and arrested cells.
    poles_y, poles_x, pole_len, pole_w = [], [], [], []
    mitotic = np.flatnonzero(cells.kind == 2)
    arrested = np.flatnonzero(cells.kind == 3)
    bipolar = np.concatenate([mitotic, arrested]) if arrest_style == "bipolar" else mitotic
    for sign in (-1.0, 1.0):
        poles_y.append(cells.y[bipolar] + sign * 0.42 * r[bipolar] * np.sin(cells.theta[bipolar]))
        poles_x.append(cells.x[bipolar] + sign * 0.42 * r[bipolar] * np.cos(cells.theta[bipolar]))
        pole_len.append(0.4 * r[bipolar])
        pole_w.append(np.full(bipolar.size, 9.0))
    if arrest_style == "monoaster":
        poles_y.append(cells.y[arrested])
        poles_x.append(cells.x[arrested])
        pole_len.append(0.55 * r[arrested])
        pole_w.append(np.full(arrested.size, 16.0))
    elif arrest_style == "multiaster":
        for _ in range(3):
            ang = rng.uniform(0, 2 * np.pi, arrested.size)
            poles_y.append(cells.y[arrested] + 0.35 * r[arrested] * np.sin(ang))
            poles_x.append(cells.x[arrested] + 0.35 * r[arrested] * np.cos(ang))
            pole_len.append(0.3 * r[arrested])
            pole_w.append(np.full(arrested.size, 7.0))
    py, px = np.concatenate(poles_y), np.concatenate(poles_x)
    plen, pw = np.concatenate(pole_len), np.concatenate(pole_w)
    if py.size:
        rays = np.repeat(np.arange(py.size), pw.astype(int))
        thin_tub.append(
            _trace(
                py[rays],
                px[rays],
                rng.uniform(0, 2 * np.pi, rays.size),
                plen[rays] * rng.uniform(0.6, 1.0, rays.size),
                np.zeros(rays.size),
                np.full(rays.size, 1.8 * tub_w),
            )
        )
    # Stress fibres: chords roughly along the cell's long axis.
    counts = rng.poisson(7.0 * params["act_fibers"] * rel[interphase])
    owner = np.repeat(interphase, counts)
    if owner.size:
        offset = rng.uniform(-0.85, 0.85, owner.size)
        half = 0.9 * cells.a[owner] * np.sqrt(1.0 - offset**2)
        direction = cells.theta[owner] + rng.normal(0, 0.15, owner.size)
        perp_y, perp_x = np.cos(cells.theta[owner]), -np.sin(cells.theta[owner])
        d = offset * cells.b[owner]
        y0 = cells.y[owner] + d * perp_y - half * np.sin(direction)
        x0 = cells.x[owner] + d * perp_x - half * np.cos(direction)
        thin_act.append(
            _trace(
                y0,
                x0,
                direction,
                2 * half,
                rng.normal(0, 0.08, owner.size),
                act_w * cells.var[owner, 2] * rng.uniform(0.5, 1.5, owner.size),
            )
        )
    # Actin aggregates (puncta) anywhere in the cell.
    counts = rng.poisson(7.0 * params["act_puncta"] * np.ones(cells.y.size))
    owner = np.repeat(np.arange(cells.y.size), counts)
    if owner.size:
        ang = rng.uniform(0, 2 * np.pi, owner.size)
        dist = np.sqrt(rng.random(owner.size)) * 0.8 * r[owner]
        weight = np.full(owner.size, 2200.0 * params["bright_act"] * (scale * 2.2) ** 2 + 1e-3)
        thick_act.append((cells.y[owner] + dist * np.sin(ang), cells.x[owner] + dist * np.cos(ang), weight))
    return thin_tub, thick_tub, thin_act, thick_act


def _reach(cells: _Cells, owner: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Distance from a cell's centre to its boundary in direction ``phi`` (px)."""
    rel = phi - cells.theta[owner]
    ell = 1.0 / np.sqrt((np.cos(rel) / cells.a[owner]) ** 2 + (np.sin(rel) / cells.b[owner]) ** 2)
    factor = 1.0
    for j, k in enumerate((2, 3, 4)):
        factor = factor + cells.harm[owner, j] * np.cos(k * rel + cells.phase[owner, j])
    return ell * np.maximum(factor, 0.4)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation, float32 of ``shape``."""
    noise = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    return noise / (noise.std() + 1e-6)


def _camera(signal: np.ndarray, acq: Acquisition, rng: np.random.Generator) -> np.ndarray:
    """Illumination, background, Poisson-Gaussian noise, 12-bit quantisation -> uint16 (3, H, W)."""
    _, height, width = signal.shape
    cy = height / 2 + rng.normal(0, 0.05 * height)
    cx = width / 2 + rng.normal(0, 0.05 * width)
    yy = ((np.arange(height, dtype=np.float32) - cy) / (height / 2))[:, None] ** 2
    xx = ((np.arange(width, dtype=np.float32) - cx) / (width / 2))[None, :] ** 2
    illumination = 1.0 - acq.vignetting * (yy + xx) / 2.0
    gain = np.asarray(acq.gain, np.float32)[:, None, None]
    background = (_BACKGROUND * np.asarray(acq.background, np.float32))[:, None, None]
    expected = illumination[None] * (background + gain * signal)
    noisy = expected + np.sqrt(expected * _ADU_PER_ELECTRON) * rng.standard_normal(expected.shape, np.float32)
    noisy += _CAMERA_OFFSET + _READ_NOISE * rng.standard_normal(expected.shape, np.float32)
    quantised = np.rint(np.clip(noisy, 0, 65535) / 16.0) * 16.0
    return np.clip(quantised, 0, 65520).astype(np.uint16)
