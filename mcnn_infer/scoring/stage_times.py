"""Where a scoring run's time went: CPU and wall seconds per stage, and the stage that bounds the run.

The loader threads decode, image-QC, preprocess and (for chosen fields) make thumbnails of fields
while the runtime's own threads infer earlier batches and the main thread stacks batches and
writes results. Stages running side by side cannot be summed into the run's wall time, so each
stage is reported in CPU-seconds (the CPU time of the threads doing it, ``time.thread_time``) and
wall seconds (summed over the threads doing it), and inference as the wall time during which at
least one request was computing plus the process CPU time no other stage accounts for.

The bounding stage comes from what the main thread waited on: a main thread that mostly waited
for loaded fields is bounded by the loader (by its most expensive stage), one that mostly waited
for a free inference request by inference, one that rarely waited by its own work (writing).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

#: Stages in report order: key -> (label, where it runs).
STAGES: dict[str, tuple[str, str]] = {
    "decode": ("decode (TIFF)", "loader threads"),
    "image_qc": ("image QC", "loader threads"),
    "preprocess": ("preprocess (resize + normalise)", "loader threads"),
    "thumbnails": ("thumbnails", "loader threads"),
    "batching": ("batching", "main thread"),
    "inference": ("inference", "runtime threads"),
    "writing": ("writing results", "main thread"),
}
#: Loader stages (run in parallel with inference).
LOADER_STAGES = ("decode", "image_qc", "preprocess", "thumbnails")
#: Stages the main thread runs itself.
MAIN_STAGES = ("batching", "writing")


class StageClock:
    """Thread-safe accumulator of per-stage CPU and wall seconds for one scoring run.

    Use :meth:`stage` around a stage's work in whichever thread runs it; :meth:`start` and
    :meth:`stop` around the whole loop (they read the process CPU time, from which inference's
    share is derived); :meth:`wait` around the main thread's blocking waits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.wall = dict.fromkeys(STAGES, 0.0)
        self.waits = {"loader": 0.0, "inference": 0.0}
        self.fields = 0
        self._wall0 = self._cpu0 = 0.0
        self.wall_seconds = 0.0
        self.process_cpu_seconds = 0.0
        self.inference_busy_seconds = 0.0

    def start(self) -> None:
        """Mark the start of the scoring loop."""
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()

    def stop(self, fields: int, inference_busy_seconds: float) -> None:
        """Mark the end of the loop: ``fields`` scored, the engine computing for ``inference_busy_seconds``."""
        self.wall_seconds = time.perf_counter() - self._wall0
        self.process_cpu_seconds = time.process_time() - self._cpu0
        self.fields = int(fields)
        self.inference_busy_seconds = float(inference_busy_seconds)

    def add(self, stage: str, wall: float, cpu: float) -> None:
        with self._lock:
            self.wall[stage] += wall
            self.cpu[stage] += cpu

    @contextlib.contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        """Time the enclosed work of the calling thread as ``stage``."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - wall, time.thread_time() - cpu)

    @contextlib.contextmanager
    def wait(self, what: str) -> Iterator[None]:
        """Time a blocking wait of the main thread for ``what`` (``loader`` or ``inference``)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self.waits[what] += elapsed

    def report(self) -> dict[str, Any]:
        """JSON-ready stage times (``run.json`` key ``stages``).

        Returns
        -------
        dict
            ``fields`` (scored in this run), ``wall_seconds`` (the loop), ``process_cpu_seconds``,
            ``stages`` ({key: {label, where, cpu_seconds, wall_seconds, cpu_ms_per_field}}),
            ``main_thread_waits`` ({loader, inference}: seconds), ``bound_by`` (a stage key or
            ``none`` when nothing was scored) and ``bound_reason`` (one line).
        """
        cpu = dict(self.cpu)
        wall = dict(self.wall)
        # the runtime's threads: all the process's CPU time the timed stages do not account for
        accounted = sum(v for k, v in cpu.items() if k != "inference")
        cpu["inference"] = max(0.0, self.process_cpu_seconds - accounted)
        wall["inference"] = self.inference_busy_seconds
        n = self.fields
        stages = {
            key: {
                "label": label,
                "where": where,
                "cpu_seconds": round(cpu[key], 4),
                "wall_seconds": round(wall[key], 4),
                "cpu_ms_per_field": round(1000.0 * cpu[key] / n, 3) if n else 0.0,
            }
            for key, (label, where) in STAGES.items()
        }
        bound, reason = self._bound(cpu, wall)
        return {
            "fields": n,
            "wall_seconds": round(self.wall_seconds, 4),
            "process_cpu_seconds": round(self.process_cpu_seconds, 4),
            "stages": stages,
            "main_thread_waits": {k: round(v, 4) for k, v in self.waits.items()},
            "bound_by": bound,
            "bound_reason": reason,
        }

    def _bound(self, cpu: dict[str, float], wall: dict[str, float]) -> tuple[str, str]:
        if not self.fields:
            return "none", "no field was scored in this run"
        main_work = sum(wall[k] for k in MAIN_STAGES)
        loader_wait, infer_wait = self.waits["loader"], self.waits["inference"]
        if loader_wait >= infer_wait and loader_wait >= main_work:
            worst = max(LOADER_STAGES, key=lambda k: cpu[k])
            return worst, (
                f"the main thread waited {loader_wait:.2f} s for loaded fields ({infer_wait:.2f} s for "
                f"inference); {STAGES[worst][0]} is the loader's largest stage"
            )
        if infer_wait >= main_work:
            return "inference", (
                f"the main thread waited {infer_wait:.2f} s for inference ({loader_wait:.2f} s for "
                "loaded fields)"
            )
        worst = max(MAIN_STAGES, key=lambda k: wall[k])
        return worst, (
            f"the main thread was busy {main_work:.2f} s with its own work ({STAGES[worst][0]} the most), "
            f"longer than it waited for loaded fields ({loader_wait:.2f} s) or inference ({infer_wait:.2f} s)"
        )
