"""Where the fraction of peak is lost: per-layer time, GFLOP and fraction of the matmul peak, per OpenVINO format.

The whole-network fraction of peak of ``benchmarks/export_formats.py`` cannot say which layers
fall short. This module compiles each OpenVINO format of an exported model through
:func:`mcnn_infer.runtime.open_engine` (the scorer's settings) with per-layer profiling
(``PERF_COUNT``, ``profile=True``), runs a few batches and groups the executed nodes of the
compiled graph by M-CNN stage: the three 5x5 convolutions of column ``k`` (``colK conv``), its
pools (``colK pools``: the input downsampling and the pooling to the 64-pixel grid), the 1x1
fusion convolution, its pool, the dense layers, the layout changes (reorders, transposes, type
conversions, quantize/dequantize), and everything else. Per group it prints:

* ms per image: the nodes' wall time summed over the profiled requests, divided by the images
  and by the requests that ran at once (the CPU streams), so the groups add up to the profiled
  time per image of the whole machine;
* the share of the total, the GFLOP per image of the group's convolutions and matmuls (counted
  from the shapes of the format's own IR, :func:`gflop_by_group`), the achieved GFLOP/s and the
  fraction of the matmul peak of the same precision measured in the same run
  (``benchmarks/peak.py``);
* the kernels the CPU plugin chose (``exec_type``, e.g. ``brgconv_avx512_bf16``).

And the sum over the groups against the time per image of the same format timed without
profiling, so the profiling overhead is visible.

Usage::

    .venv/bin/python benchmarks/layer_efficiency.py --model-dir /tmp/layers-work/model   # any export
    .venv/bin/python benchmarks/export_formats.py --layers --work /tmp/layers-work         # after the formats

Node names come from the TensorFlow layer names (``col0_conv1``, ``fusion_conv``, ``embedding``,
``logits``); a model without them (another architecture) still gets its convolutions and matmuls
in ``other conv/matmul`` and the rest in ``other``.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.peak import ROWS, K, N, PeakBench, format_peaks, open_peaks  # noqa: E402
from mcnn_infer.card import load_card  # noqa: E402
from mcnn_infer.cpu import native_bf16  # noqa: E402
from mcnn_infer.runtime import open_engine  # noqa: E402
from mcnn_infer.runtime.base import Engine  # noqa: E402

#: OpenVINO formats profiled, and the matmul peak precision each is compared with.
LAYER_FORMATS = {"openvino-fp32": "fp32", "openvino-bf16": "bf16", "openvino-int8": "int8"}
N_COLUMNS = 7
FUSION_CONV, FUSION_POOL, DENSE = "fusion 1x1 conv", "fusion pool", "dense"
LAYOUT, OTHER_COMPUTE, OTHER = "reorder/convert/quantize", "other conv/matmul", "other"
#: Print order of the groups.
GROUPS = (
    *(f"col{k} conv" for k in range(N_COLUMNS)),
    *(f"col{k} pools" for k in range(N_COLUMNS)),
    FUSION_CONV,
    FUSION_POOL,
    DENSE,
    LAYOUT,
    OTHER_COMPUTE,
    OTHER,
)
#: Node types that only move or convert data.
LAYOUT_TYPES = frozenset({"Reorder", "Convert", "Transpose", "FakeQuantize"})
#: Node types that multiply: their GFLOP is counted.
COMPUTE_TYPES = frozenset({"Convolution", "GroupConvolution", "MatMul", "FullyConnected"})
_COLUMN = re.compile(r"(?:^|/)col(\d+)_(conv|downsample|pool)")
_DENSE = re.compile(r"(?:^|/)(embedding|logits)(?:/|$|_original$)")


def group_of(node_type: str, names: Iterable[str]) -> str:
    """The group of a node from its type and its (original) layer names, e.g. ``col0 conv``.

    Layout changes go by type (a reorder carries the name of the layer it feeds); quantize and
    dequantize steps the CPU plugin fused into an eltwise ``Subgraph`` go by their NNCF names
    (``.../fq_input_0``); the rest by the Keras layer name in the node's names.
    """
    names = [n for n in names if n]
    if node_type in LAYOUT_TYPES or (any("/fq_" in n for n in names) and node_type not in COMPUTE_TYPES):
        return LAYOUT
    for name in names:
        m = _COLUMN.search(name)
        if m:
            return f"col{m[1]} {'conv' if m[2] == 'conv' else 'pools'}"
        if "fusion_conv" in name:
            return FUSION_CONV
        if "fusion_pool" in name:
            return FUSION_POOL
        if _DENSE.search(name):
            return DENSE
    return OTHER_COMPUTE if node_type in COMPUTE_TYPES else OTHER


def op_flop(op) -> float:
    """FLOP of one convolution or matmul of a static-shape OpenVINO model (1 multiply-add = 2), else 0.

    Convolution: ``2 x output elements x C_in x kh x kw`` (weights ``[C_out, C_in, kh, kw]``);
    GroupConvolution: weights ``[G, C_out/G, C_in/G, kh, kw]``, so ``C_in/G``; MatMul:
    ``2 x output elements x K`` (K: the reduced axis of the first input).
    """
    kind = op.get_type_name()
    if kind not in ("Convolution", "GroupConvolution", "MatMul"):
        return 0.0
    out = int(np.prod(op.get_output_partial_shape(0).to_shape()))
    if kind == "MatMul":
        a = op.get_input_partial_shape(0).to_shape()
        reduced = a[-2] if op.get_attributes().get("transpose_a") else a[-1]
        return 2.0 * out * int(reduced)
    weights = op.get_input_partial_shape(1).to_shape()
    per_output = int(np.prod(weights[2:])) if kind == "GroupConvolution" else int(np.prod(weights[1:]))
    return 2.0 * out * per_output


@functools.lru_cache(maxsize=8)
def gflop_by_name(model_file: Path, input_shape: tuple[int, int, int]) -> dict[str, tuple[str, float]]:
    """GFLOP per image of every convolution and matmul of an IR file: ``{layer name: (type, GFLOP)}``.

    Parameters
    ----------
    model_file : Path
        ``model.xml`` of the format (the INT8 IR has its own file; BF16 computes the FP32 IR).
    input_shape : (int, int, int)
        Height, width, channels of one image (NHWC input); the model is reshaped to one image.
    """
    import openvino as ov

    model = ov.Core().read_model(model_file)
    model.reshape({model.inputs[0]: ov.PartialShape([1, *input_shape])})
    return {
        op.get_friendly_name(): (op.get_type_name(), op_flop(op) / 1e9)
        for op in model.get_ordered_ops()
        if op_flop(op)
    }


def gflop_by_group(model_file: Path, input_shape: tuple[int, int, int]) -> dict[str, float]:
    """GFLOP per image of every group (:func:`group_of`) of an IR file (see :func:`gflop_by_name`)."""
    out: dict[str, float] = defaultdict(float)
    for name, (kind, gflop) in gflop_by_name(Path(model_file), tuple(input_shape)).items():
        out[group_of(kind, [name])] += gflop
    return dict(out)


def runtime_names(engine: Engine) -> dict[str, tuple[str, list[str]]]:
    """Compiled-graph node name -> (layer type, its own and its fused original layer names)."""
    out = {}
    for op in engine.compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        original = info["originalLayersNames"].astype(str).split(",") if "originalLayersNames" in info else []
        out[op.get_friendly_name()] = (layer, [op.get_friendly_name(), *original])
    return out


@dataclass
class GroupTime:
    """Time of one group in the profiled requests."""

    seconds: float = 0.0
    kernels: Counter = field(default_factory=Counter)


def group_times(profiles, names: dict[str, tuple[str, list[str]]]) -> dict[str, GroupTime]:
    """Sum the nodes' wall seconds of every profiled request (``engine.take_profiles()``) per group."""
    out: dict[str, GroupTime] = defaultdict(GroupTime)
    for request in profiles:
        for node in request:
            layer, node_names = names.get(node.name, (node.node_type, [node.name]))
            row = out[group_of(layer, node_names)]
            row.seconds += node.seconds
            row.kernels[node.exec_type] += node.seconds
    return dict(out)


def layer_rows(
    times: dict[str, GroupTime],
    gflop: dict[str, float],
    images: int,
    concurrent: int,
    peak_gflops: float | None,
) -> list[dict]:
    """One row per group: ms per image of the machine, share, GFLOP per image, GFLOP/s, fraction of peak.

    Parameters
    ----------
    times : dict
        :func:`group_times` of requests that computed ``images`` images in all.
    gflop : dict
        :func:`gflop_by_group`.
    concurrent : int
        Requests that ran at the same time (the CPU streams): wall seconds / ``concurrent`` is the
        machine's time.
    peak_gflops : float or None
        Matmul peak of the format's precision (None: no fraction).
    """
    total = sum(t.seconds for t in times.values())
    rows = []
    for group in sorted(
        set(times) | set(gflop), key=lambda g: GROUPS.index(g) if g in GROUPS else len(GROUPS)
    ):
        t = times.get(group, GroupTime())
        seconds = t.seconds / images / concurrent
        g = gflop.get(group, 0.0)
        rate = g / seconds if g and seconds else None
        rows.append(
            {
                "group": group,
                "ms_per_image": 1e3 * seconds,
                "share": t.seconds / total if total else 0.0,
                "gflop_per_image": g,
                "gflops": rate,
                "fraction_of_peak": rate / peak_gflops if rate and peak_gflops else None,
                "kernels": [k for k, _ in t.kernels.most_common(2)],
            }
        )
    return rows


def short_name(name: str) -> str:
    """The last two parts of a node name (``col0_conv1/Conv2D`` for ``.../mcnn/col0_conv1/Conv2D``)."""
    return "/".join(name.split("/")[-2:])


def node_rows(
    profiles,
    names: dict[str, tuple[str, list[str]]],
    flops: dict[str, tuple[str, float]],
    images: int,
    concurrent: int,
    peak_gflops: float | None,
    top: int = 8,
) -> list[dict]:
    """The ``top`` slowest nodes of the compiled graph, as :func:`layer_rows` rows (``node``, ``type`` added).

    A node's GFLOP is that of the original convolutions and matmuls fused into it (``flops``:
    :func:`gflop_by_name`).
    """
    seconds: Counter = Counter()
    kinds: dict[str, tuple[str, str]] = {}
    for request in profiles:
        for node in request:
            seconds[node.name] += node.seconds
            kinds[node.name] = (node.node_type, node.exec_type)
    rows = []
    for name, total in seconds.most_common(top):
        layer, node_names = names.get(name, (kinds[name][0], [name]))
        g = sum(flops[n][1] for n in set(node_names) if n in flops)
        t = total / images / concurrent
        rate = g / t if g and t else None
        rows.append(
            {
                "node": short_name(name),
                "group": group_of(layer, node_names),
                "type": layer,
                "ms_per_image": 1e3 * t,
                "share": total / sum(seconds.values()),
                "gflop_per_image": g,
                "gflops": rate,
                "fraction_of_peak": rate / peak_gflops if rate and peak_gflops else None,
                "kernels": [kinds[name][1]],
            }
        )
    return rows


def engine_layers(
    engine: Engine, profiles, peak_gflops: float | None, top: int = 8
) -> tuple[list[dict], list[dict]]:
    """Group rows (:func:`layer_rows`) and the ``top`` slowest nodes (:func:`node_rows`) of profiled requests
    of ``engine`` (opened with ``profile=True``; ``profiles`` from ``engine.take_profiles()``)."""
    names = runtime_names(engine)
    model_file = engine.model_dir / engine.fmt.path
    images = len(profiles) * engine.batch_size
    groups = layer_rows(
        group_times(profiles, names),
        gflop_by_group(model_file, engine.input_shape),
        images,
        engine.streams,
        peak_gflops,
    )
    flops = gflop_by_name(model_file, engine.input_shape)
    return groups, node_rows(profiles, names, flops, images, engine.streams, peak_gflops, top)


def time_pass(engine: Engine, inputs: np.ndarray) -> float:
    """Wall seconds per image of one pass of ``inputs`` through ``engine``."""
    start = time.perf_counter()
    engine.infer(inputs)
    return (time.perf_counter() - start) / len(inputs)


def fill(inputs: np.ndarray, engine: Engine, requests: int = 2) -> np.ndarray:
    """``inputs`` repeated to ``requests`` full batches per inference request of ``engine``."""
    count = engine.batch_size * engine.jobs * requests
    return inputs[np.arange(count) % len(inputs)]


def profile_format(
    model_dir: Path,
    name: str,
    inputs: np.ndarray,
    peak: PeakBench | None,
    passes: int = 2,
    batch: int | None = None,
    streams: int | None = None,
) -> dict:
    """Profile one OpenVINO format: per-group rows, the profiled and the plain time per image.

    Two engines with the same settings (one with ``profile=True``) take ``passes`` round-robin
    passes (the matmul peak ``peak`` too, so they share the machine's noise); each keeps its best
    pass, and the groups are those of the profiled engine's best pass.
    """
    from mcnn_infer.formats import FORMATS

    fmt = FORMATS[name]
    plain = open_engine(model_dir, fmt.runtime, fmt.precision, batch_size=batch, streams=streams)
    profiled = open_engine(
        model_dir, fmt.runtime, fmt.precision, batch_size=batch, streams=streams, profile=True
    )
    timed = fill(inputs, plain)
    for engine in (plain, profiled):  # warm-up
        engine.infer(timed[: engine.batch_size * engine.jobs])
    profiled.take_profiles()
    best_plain = best_profiled = float("inf")
    best_profiles: list = []
    for _ in range(passes):
        if peak is not None:
            peak.time_once()
        best_plain = min(best_plain, time_pass(plain, timed))
        seconds = time_pass(profiled, timed)
        profiles = profiled.take_profiles()
        if seconds < best_profiled:
            best_profiled, best_profiles = seconds, profiles
    peak_gflops = peak.gflops if peak is not None else None
    rows, nodes = engine_layers(profiled, best_profiles, peak_gflops)
    images = len(best_profiles) * profiled.batch_size
    layers_s = sum(r["ms_per_image"] for r in rows) / 1e3
    result = {
        "format": name,
        "precision": LAYER_FORMATS.get(name),
        "batch": plain.batch_size,
        "streams": plain.streams,
        "requests": plain.jobs,
        "images_profiled": images,
        "rows": rows,
        "slowest_nodes": nodes,
        "gflop_per_image": sum(r["gflop_per_image"] for r in rows),
        "layers_ms_per_image": 1e3 * layers_s,
        "profiled_ms_per_image": 1e3 * best_profiled,
        "plain_ms_per_image": 1e3 * best_plain,
        "profiling_overhead": best_profiled / best_plain - 1.0,
        "peak_gflops": peak_gflops,
    }
    whole = result["gflop_per_image"] / best_plain
    result["fraction_of_peak"] = whole / peak_gflops if peak_gflops else None
    return result


def format_result(r: dict) -> list[str]:
    """Printable lines of one :func:`profile_format` result: the group table and the totals."""
    peak = f"{r['peak_gflops']:.0f} GFLOP/s" if r["peak_gflops"] else "not measured"
    lines = [
        f"{r['format']}: batch {r['batch']}, {r['streams']} streams, {r['requests']} requests; "
        f"{r['images_profiled']} images profiled; {r['precision']} matmul peak {peak} (same run)",
        *row_lines(r["rows"], "group"),
    ]
    whole = r["gflop_per_image"] / r["plain_ms_per_image"] * 1e3
    frac = f" = {r['fraction_of_peak']:.0%} of peak" if r["fraction_of_peak"] else ""
    lines += [
        f"  {'sum of groups':26s} {r['layers_ms_per_image']:9.2f} {1:6.1%} {r['gflop_per_image']:10.3f} "
        f"{r['gflop_per_image'] / r['layers_ms_per_image'] * 1e3:8.1f}",
        f"  whole model, wall time: profiled {r['profiled_ms_per_image']:.2f} ms/image, without profiling "
        f"{r['plain_ms_per_image']:.2f} ms/image ({whole:.1f} GFLOP/s{frac}); profiling costs "
        f"{r['profiling_overhead']:+.1%}; the groups cover {r['layers_ms_per_image'] / r['profiled_ms_per_image']:.0%} "
        "of the profiled wall time",
        kind_line(r["rows"], r["peak_gflops"]),
        f"  the {len(r['slowest_nodes'])} slowest nodes of the compiled graph:",
        *row_lines(r["slowest_nodes"], "node"),
    ]
    return lines


def kind_of(group: str) -> str:
    """The kind of a group: ``convolutions`` (columns and fusion), ``pools``, ``dense``, layout, other."""
    if group.endswith(" conv"):
        return "convolutions"
    if group.endswith(" pools") or group == FUSION_POOL:
        return "pools"
    return group


def kind_rows(rows: list[dict], peak_gflops: float | None) -> list[dict]:
    """:func:`layer_rows` rows summed by :func:`kind_of` (``ms_per_image``, ``share``, ``gflop_per_image``,
    ``fraction_of_peak``), slowest first."""
    kinds: dict[str, dict] = {}
    for row in rows:
        k = kinds.setdefault(
            kind_of(row["group"]),
            {"kind": kind_of(row["group"]), "ms_per_image": 0.0, "share": 0.0, "gflop_per_image": 0.0},
        )
        for key in ("ms_per_image", "share", "gflop_per_image"):
            k[key] += row[key]
    for k in kinds.values():
        rate = (
            k["gflop_per_image"] / k["ms_per_image"] * 1e3
            if k["gflop_per_image"] and k["ms_per_image"]
            else None
        )
        k["fraction_of_peak"] = rate / peak_gflops if rate and peak_gflops else None
    return sorted(kinds.values(), key=lambda k: -k["ms_per_image"])


def kind_line(rows: list[dict], peak_gflops: float | None) -> str:
    """One line: every kind's share of the time (and fraction of peak where it computes)."""
    parts = []
    for k in kind_rows(rows, peak_gflops):
        frac = f" at {k['fraction_of_peak']:.0%} of peak" if k["fraction_of_peak"] else ""
        parts.append(f"{k['kind']} {k['share']:.1%}{frac}")
    return "  by kind (share of the profiled time): " + "; ".join(parts)


def row_lines(rows: list[dict], key: str) -> list[str]:
    """Table lines of :func:`layer_rows` / :func:`node_rows` rows, first column ``row[key]``."""
    lines = [
        f"  {key:26s} {'ms/image':>9s} {'share':>6s} {'GFLOP/img':>10s} {'GFLOP/s':>8s} {'of peak':>8s}  kernels"
    ]
    for row in rows:
        rate = f"{row['gflops']:.1f}" if row["gflops"] else "-"
        frac = f"{row['fraction_of_peak']:.0%}" if row["fraction_of_peak"] else "-"
        lines.append(
            f"  {row[key][:26]:26s} {row['ms_per_image']:9.2f} {row['share']:6.1%} {row['gflop_per_image']:10.3f} "
            f"{rate:>8s} {frac:>8s}  {', '.join(row['kernels'])}"
        )
    return lines


def layer_report(
    model_dir: Path,
    inputs: np.ndarray | None = None,
    work: Path | None = None,
    passes: int = 2,
    batch: int | None = None,
    streams: int | None = None,
    formats: Iterable[str] | None = None,
) -> tuple[dict, list[dict]]:
    """Profile every OpenVINO format of ``model_dir`` the card lists and this CPU runs natively.

    Parameters
    ----------
    inputs : numpy.ndarray, optional
        Preprocessed (N, H, W, C) float32 fields (default: 4 random [0, 1] fields of the card's size).
    work : Path, optional
        Folder for the matmul peak models (default: a temporary folder).

    Returns
    -------
    (dict, list of dict)
        The peaks (``PeakBench.result()`` per precision) and one :func:`profile_format` result per format.
    """
    card = load_card(model_dir)
    if inputs is None:
        h, w = card.input.height, card.input.width
        inputs = np.random.default_rng(0).random((4, h, w, len(card.input.channels)), dtype=np.float32)
    names = [
        n for n in (formats or LAYER_FORMATS) if n in card.formats and (n != "openvino-bf16" or native_bf16())
    ]
    with tempfile.TemporaryDirectory(prefix="hcs-layers-") as tmp:
        peaks = open_peaks(Path(work or tmp) / "peak", tuple(dict.fromkeys(LAYER_FORMATS[n] for n in names)))
        results = [
            profile_format(model_dir, n, inputs, peaks[LAYER_FORMATS[n]], passes, batch, streams)
            for n in names
        ]
        return {p: b.result() for p, b in peaks.items()}, results


def print_report(peaks: dict, results: list[dict], print_line=print) -> None:
    """Print the peaks and every format's group table."""
    for line in format_peaks(peaks, (ROWS, K, N)):
        print_line(line)
    for result in results:
        for line in format_result(result):
            print_line(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="Exported model folder (card.json).")
    parser.add_argument(
        "--formats", nargs="+", choices=list(LAYER_FORMATS), help="Default: every one the card lists."
    )
    parser.add_argument("--passes", type=int, default=2, help="Round-robin passes per format (best kept).")
    parser.add_argument("--batch", type=int, help="Fields per request (default: the scorer's choice).")
    parser.add_argument("--streams", type=int, help="CPU streams (default: the THROUGHPUT hint's choice).")
    parser.add_argument("--json", type=Path, help="Also write the peaks and the per-format results here.")
    args = parser.parse_args(argv)
    peaks, results = layer_report(
        args.model_dir, passes=args.passes, batch=args.batch, streams=args.streams, formats=args.formats
    )
    print_report(peaks, results)
    if args.json:
        args.json.write_text(json.dumps({"peaks": peaks, "formats": results}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
