"""The watch loop: poll the inbox, and score, analyse and report each complete plate once.

Each inbox entry (a folder or ``*.zarr`` store directly inside INBOX) is one acquisition; its
results go to ``RESULTS/<entry name without .zarr>/``. The watcher holds the one-writer lock of
INBOX and of RESULTS (:func:`mcnn_infer.folder_lock.folder_lock`), so a second watcher on either is
refused at start. SIGTERM or Ctrl-C while a plate is scored abandons it cleanly: the result parts
written so far stay, its state stays ``scoring`` and the next start resumes it (no field is scored
twice); between plates they end the loop at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcnn_infer import api
from mcnn_infer.errors import ConfigError, HcsError
from mcnn_infer.folder_lock import folder_lock
from mcnn_infer.metadata import read_treatments
from mcnn_infer.scoring.shard import Shard
from mcnn_infer.watch.completion import Expectation, ScanCount, completion_reason, count_fields
from mcnn_infer.watch.snapshot import Snapshot, is_temp_name, take_snapshot
from mcnn_infer.watch.state import ANALYSING, DONE, FAILED, IN_PROGRESS, SCORING, WAITING, WatchState

#: Default seconds without any change after which a plate counts as complete.
DEFAULT_QUIET = 300.0
#: Default seconds between two polls of the inbox.
DEFAULT_POLL = 10.0


class Stopped(KeyboardInterrupt):
    """SIGTERM / SIGINT while a plate is processed: unwinds the scorer like Ctrl-C (its parts are kept)."""


@dataclass(frozen=True)
class WatchSettings:
    """When a plate is complete and what is done with it.

    Attributes
    ----------
    quiet : float
        Seconds without any file change after which a plate is complete (``--quiet``).
    poll : float
        Seconds between polls (``--poll``); a file must keep its size and mtime across two.
    expect : int or None
        Fields per plate that make it complete (``--expect``).
    fields_per_well : int
        With metadata: fields per listed well that make a plate complete (``--fields-per-well``).
    markers : tuple of str
        File-name globs that mark a plate complete, besides the layout's own (``--marker``).
    report : bool
        Analyse and write the HTML report of each plate after scoring it.
    """

    quiet: float = DEFAULT_QUIET
    poll: float = DEFAULT_POLL
    expect: int | None = None
    fields_per_well: int = 1
    markers: tuple[str, ...] = ()
    report: bool = True

    def __post_init__(self) -> None:
        for name in ("quiet", "poll"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"--{name} {getattr(self, name)!r} (expected a positive number of seconds)")
        if self.expect is not None and self.expect < 1:
            raise ConfigError(f"--expect {self.expect} (expected a positive number of fields per plate)")
        if self.fields_per_well < 1:
            raise ConfigError(f"--fields-per-well {self.fields_per_well} (expected a positive number)")


@dataclass
class WatchSummary:
    """What one ``watch`` run did: entries ``done`` and ``failed`` by it, those still ``waiting``,
    and the signal that stopped it (None for ``--once``)."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    stopped_by: str | None = None


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def stderr_log(message: str) -> None:
    """One timestamped line on stderr (the default log of :class:`Watcher`)."""
    print(f"{_now_iso()} hcs watch: {message}", file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join((str(exc) or type(exc).__name__).split())
    return text if isinstance(exc, HcsError | OSError) else f"{type(exc).__name__}: {text}"


class Watcher:
    """Watch ``inbox`` and score each complete plate into ``out/<plate>/`` with ``model``.

    Parameters
    ----------
    inbox : path
        The folder instruments write plate folders (or OME-Zarr stores) into.
    out : path
        RESULTS: one results folder per plate, and ``watch-state.json``. Not inside ``inbox``.
    model : path, optional
        Exported model folder (default as ``hcs score``).
    settings : WatchSettings, optional
    score_options : mapping, optional
        Keyword arguments of :func:`mcnn_infer.api.score` (``metadata``, ``positive``,
        ``embeddings``, ``backend``, ``precision``, ``pattern``, ...).
    log : callable, optional
        Receives one line per plate event (default: timestamped on stderr).
    clock : callable, optional
        Wall-clock seconds (default :func:`time.time`); the quiet time is measured with it.

    Raises
    ------
    ConfigError
        The inbox is not a folder, RESULTS lies inside it, bad settings or a bad state file.
    MetadataError
        Unreadable ``metadata``.
    """

    def __init__(
        self,
        inbox: str | Path,
        out: str | Path,
        model: str | Path | None = None,
        settings: WatchSettings | None = None,
        score_options: Mapping[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inbox, self.out = Path(inbox), Path(out)
        if not self.inbox.is_dir():
            raise ConfigError(
                f"inbox {self.inbox} is not a folder (expected the folder instruments write plates into)"
            )
        if self.out.resolve().is_relative_to(self.inbox.resolve()):
            raise ConfigError(
                f"results folder {self.out} is inside the inbox {self.inbox} (expected a folder outside it: "
                "the watcher would take its own results for plates)"
            )
        self.model = model
        self.settings = settings or WatchSettings()
        self.score_options = dict(score_options or {})
        self.score_options.pop("shard", None)
        metadata = self.score_options.get("metadata") or ()
        treatments = (
            read_treatments(
                [str(m) for m in metadata], positive_compounds=self.score_options.get("positive", ())
            )
            if metadata
            else None
        )
        self.expectation = Expectation.from_treatments(
            treatments, self.settings.fields_per_well, self.settings.expect
        )
        self.log = log or stderr_log
        self.clock = clock
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = WatchState(self.out)
        self._previous: dict[str, str] = {}
        self._counts: dict[str, tuple[str, ScanCount]] = {}
        self._stop_reason: str | None = None
        self._busy = False

    # ------------------------------------------------------------------ inbox
    def entries(self) -> list[Path]:
        """The plate entries in the inbox: its folders (plate folders, ``*.zarr`` stores), sorted by name."""
        return sorted(
            p
            for p in self.inbox.iterdir()
            if p.is_dir() and not p.name.startswith(".") and not is_temp_name(p.name)
        )

    def results_dir(self, entry: Path) -> Path:
        """``RESULTS/<entry name>`` (a store's name without ``.zarr``)."""
        name = entry.name[: -len(".zarr")] if entry.name.lower().endswith(".zarr") else entry.name
        return self.out / name

    def _count(self, entry: Path, snapshot: Snapshot) -> ScanCount | None:
        if snapshot.temp:
            return None
        cached = self._counts.get(entry.name)
        if cached is None or cached[0] != snapshot.signature:
            cached = (snapshot.signature, count_fields(entry, self.score_options.get("pattern")))
            self._counts[entry.name] = cached
        return cached[1]

    def check(self) -> list[tuple[Path, str]]:
        """One poll: snapshot every entry not done yet; return the complete ones, each with why.

        Entries interrupted while in progress are returned at once (they were complete before).
        """
        ready = []
        entries = self.entries()
        for entry in entries:
            name = entry.name
            record = self.state.get(name)
            status = record.get("status")
            if status == DONE:
                continue
            if status in IN_PROGRESS:
                ready.append((entry, f"resuming: interrupted while {status}"))
                continue
            snapshot = take_snapshot(entry)
            if status == FAILED and snapshot.signature == record.get("signature"):
                continue
            now = self.clock()
            if record.get("signature") != snapshot.signature or status is None:
                self.state.update(
                    name, status=WAITING, signature=snapshot.signature, since=now, files=len(snapshot.files)
                )
                if status is None:
                    self.log(f"plate {name}: arriving ({len(snapshot.files)} files)")
                elif status == FAILED:
                    self.log(f"plate {name}: files changed after it failed; waiting for it again")
                self._previous[name] = snapshot.signature
                continue
            stable = self._previous.get(name) == snapshot.signature
            self._previous[name] = snapshot.signature
            if not stable:
                continue
            reason = completion_reason(
                snapshot,
                now - float(record.get("since", now)),
                self.settings.quiet,
                self._count(entry, snapshot),
                self.expectation,
                self.settings.markers,
            )
            if reason is not None:
                ready.append((entry, reason))
        present = {entry.name for entry in entries}
        for name in [
            n for n, r in self.state.entries.items() if r.get("status") == WAITING and n not in present
        ]:
            self.state.remove(name)
            self.log(f"plate {name}: gone from the inbox before it was complete")
        return ready

    # ------------------------------------------------------------------ one plate
    def process(self, entry: Path, reason: str) -> str:
        """Score, analyse and report one complete entry; return its final status.

        A failure (bad plate, model refused, ...) is recorded and logged, and the watcher goes on;
        SIGTERM / Ctrl-C (:class:`Stopped`, KeyboardInterrupt) leaves the entry in progress and is re-raised.
        """
        name, results = entry.name, self.results_dir(entry)
        status = self.state.status(name)
        self._busy = True
        try:
            if status != ANALYSING:
                status = SCORING
                self.state.update(
                    name, status=SCORING, reason=reason, results=str(results), started=_now_iso()
                )
                self.log(f"plate {name}: complete ({reason}); scoring -> {results}")
                summary = api.score([entry], results, self.model, shard=Shard(), **self.score_options)
                resumed = sum(p["resumed"] for p in summary.plates)
                runs = [*self.state.get(name).get("scored_now", []), summary.scored_now]
                status = ANALYSING
                self.state.update(name, status=ANALYSING, counts=summary.counts, scored_now=runs)
                self.log(
                    f"plate {name}: scored {summary.counts['ok']} fields ({summary.scored_now} now, {resumed} "
                    f"resumed), {summary.counts['skipped']} skipped, {summary.counts['wells']} wells"
                )
            report = None
            if self.settings.report:
                api.analyze(results)
                report = api.report(results)
            self.state.update(name, status=DONE, finished=_now_iso(), report=str(report) if report else None)
            self.log(f"plate {name}: done -> {report or results}")
            return DONE
        except KeyboardInterrupt:
            self.log(
                f"plate {name}: stopped by {self._stop_reason or 'interrupt'} while {status}; "
                "resumes where it stopped on the next start"
            )
            raise
        except Exception as exc:  # one bad plate must not stop the watcher
            message = _one_line(exc)
            self.state.update(name, status=FAILED, error=message, signature=take_snapshot(entry).signature)
            self.log(f"plate {name}: failed: {message}")
            return FAILED
        finally:
            self._busy = False

    def step(self, summary: WatchSummary | None = None) -> list[tuple[str, str]]:
        """One poll and the processing of every entry complete now; returns ``(entry, status)`` pairs."""
        done = []
        for entry, reason in self.check():
            if self._stop_reason is not None:
                break
            status = self.process(entry, reason)
            done.append((entry.name, status))
            if summary is not None:
                (summary.done if status == DONE else summary.failed).append(entry.name)
        return done

    # ------------------------------------------------------------------ the loop
    def request_stop(self, reason: str = "request") -> None:
        """End the loop after the current poll (thread-safe; what SIGTERM does between plates)."""
        self._stop_reason = reason

    def _on_signal(self, signum: int, frame: Any) -> None:
        first = self._stop_reason is None
        self._stop_reason = signal.Signals(signum).name
        if self._busy and first:
            raise Stopped(self._stop_reason)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self._stop_reason is None and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))

    def run(self, once: bool = False) -> WatchSummary:
        """Watch until SIGTERM / Ctrl-C (or :meth:`request_stop`); with ``once``, process what is
        complete now (two polls ``poll`` seconds apart) and return.

        Raises
        ------
        FolderLockedError
            Another process watches this inbox or writes into this results folder.
        """
        summary = WatchSummary()
        command = f"hcs watch {self.inbox}"
        with folder_lock(self.inbox, command), folder_lock(self.out, command), self._signals():
            done = sum(r.get("status") == DONE for r in self.state.entries.values())
            expect = self.settings.expect or (
                f"metadata wells x {self.settings.fields_per_well}" if self.expectation.wells else "-"
            )
            self.log(
                f"watching {self.inbox} -> {self.out} (quiet {self.settings.quiet:g} s, poll "
                f"{self.settings.poll:g} s, expected fields {expect}{', once' if once else ''}); "
                f"{done} plates done before"
            )
            try:
                if once:
                    self.check()  # the first snapshot: stability needs two
                    self._sleep(self.settings.poll)
                    self.step(summary)
                else:
                    while self._stop_reason is None:
                        self.step(summary)
                        self._sleep(self.settings.poll)
            except KeyboardInterrupt:
                self._stop_reason = self._stop_reason or "SIGINT"
            summary.stopped_by = self._stop_reason
            summary.waiting = sorted(
                n for n, r in self.state.entries.items() if r.get("status") in (WAITING, *IN_PROGRESS)
            )
            how = f"stopped by {summary.stopped_by}" if summary.stopped_by else "finished (once)"
            self.log(
                f"{how}: {len(summary.done)} plates done, {len(summary.failed)} failed in this run; "
                f"{len(summary.waiting)} waiting or in progress"
            )
        return summary


def watch(
    inbox: str | Path,
    out: str | Path,
    model: str | Path | None = None,
    settings: WatchSettings | None = None,
    score_options: Mapping[str, Any] | None = None,
    once: bool = False,
    log: Callable[[str], None] | None = None,
) -> WatchSummary:
    """``hcs watch``: see :class:`Watcher` (parameters) and :meth:`Watcher.run` (``once``)."""
    return Watcher(inbox, out, model, settings, score_options, log).run(once=once)
