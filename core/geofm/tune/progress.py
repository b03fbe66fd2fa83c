"""What a study tells while it runs: a live table of trials on a terminal, one line per event elsewhere.

Counts of trials by state (complete, pruned, failed, running) and the best value so far, updated as each
trial starts and ends, from whichever thread or Ray callback reports it. Optionally each finished trial
is logged to MLflow as one run. Trials' own output never comes here (see :mod:`geofm.tune.capture`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from geofm.errors import ConfigError
from geofm.tune.capture import console

__all__ = ["MlflowLog", "StudyProgress", "TrialRecord"]

STATES = ("complete", "pruned", "fail", "running")


@dataclass
class TrialRecord:
    """What the progress shows of one trial."""

    number: int
    state: str = "running"
    value: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    duration_s: float | None = None
    error: str | None = None


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class StudyProgress:
    """The console side of a study: trial counts, best so far, one row or line per trial event."""

    def __init__(
        self,
        *,
        target: int,
        metric: str,
        direction: str,
        done: list[TrialRecord] | None = None,
        stream: TextIO | None = None,
        live: bool | None = None,
        mlflow: MlflowLog | None = None,
    ) -> None:
        self.target = target
        self.metric = metric
        self.maximize = direction == "maximize"
        self.stream = stream or console()
        self.records: dict[int, TrialRecord] = {r.number: r for r in done or ()}
        self.mlflow = mlflow
        self._lock = threading.Lock()
        self._live: Any = None
        if live is None:
            live = bool(getattr(self.stream, "isatty", lambda: False)())
        if live:
            self._start_live()

    # --- state ---------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Trials by state."""
        counts = dict.fromkeys(STATES, 0)
        for record in list(self.records.values()):  # the live table reads from its own thread
            counts[record.state] = counts.get(record.state, 0) + 1
        return counts

    def best(self) -> TrialRecord | None:
        """The best complete trial so far."""
        complete = [r for r in list(self.records.values()) if r.state == "complete" and r.value is not None]
        if not complete:
            return None
        return (max if self.maximize else min)(complete, key=lambda r: r.value or 0.0)

    def status(self) -> str:
        """``3/10 counted: 2 complete, 1 pruned, 0 failed, 1 running | best 0.41 (trial 0002)``."""
        counts = self.counts()
        best = self.best()
        best_text = f"best {self.metric}={_value(best.value)} (trial {best.number:04d})" if best else "no best yet"
        return (
            f"{counts['complete'] + counts['pruned']}/{self.target} trials: {counts['complete']} complete, "
            f"{counts['pruned']} pruned, {counts['fail']} failed, {counts['running']} running | {best_text}"
        )

    # --- events --------------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """A line about the study itself (resuming, retrying ...)."""
        with self._lock:
            if self._live is not None:
                self._live.console.print(text, markup=False, highlight=False)
            else:
                self._print(f"[tune] {text}")

    def started(self, number: int, params: Mapping[str, Any]) -> None:
        """Trial ``number`` started with ``params``."""
        with self._lock:
            self.records[number] = TrialRecord(number, params=dict(params))
            if self._live is None:
                self._print(f"[tune] trial {number:04d} running   {_params(params)}")
            self._refresh()

    def finished(
        self,
        number: int,
        state: str,
        value: float | None,
        params: Mapping[str, Any],
        *,
        duration_s: float | None = None,
        error: str | None = None,
        run_dir: str | None = None,
    ) -> None:
        """Trial ``number`` ended in ``state`` (complete, pruned, fail) with ``value``."""
        with self._lock:
            record = self.records.get(number) or TrialRecord(number, params=dict(params))
            record.state, record.value, record.error = state, value, error
            record.params = dict(params) or record.params
            record.duration_s = duration_s if duration_s is not None else time.monotonic() - record.started
            self.records[number] = record
            if self._live is None:
                what = f"{self.metric}={_value(value)}" if state != "fail" else (error or "failed")
                self._print(f"[tune] trial {number:04d} {state:<9} {what}  ({record.duration_s:.1f} s)")
                self._print(f"[tune] {self.status()}")
            self._refresh()
        if self.mlflow is not None:
            self.mlflow.log(number, state, value, record.params, record.duration_s, error, run_dir)

    def close(self) -> None:
        """Stop the live table (its last state stays on the terminal)."""
        with self._lock:
            if self._live is not None:
                self._live.update(self._table())
                self._live.stop()
                self._live = None

    # --- output --------------------------------------------------------------------------------------

    def _print(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def _start_live(self) -> None:
        try:
            from rich.console import Console
            from rich.live import Live
        except ImportError:  # plain lines without rich
            return
        self._live = Live(
            self._table(),
            console=Console(file=self.stream),
            refresh_per_second=4,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=self._table,
        )
        self._live.start()

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title=None, caption=self.status(), expand=False)
        for column in ("trial", "state", self.metric, "time", "parameters"):
            table.add_column(column, overflow="fold")
        now = time.monotonic()
        for record in sorted(self.records.values(), key=lambda r: r.number)[-15:]:
            duration = record.duration_s if record.duration_s is not None else now - record.started
            detail = _params(record.params) + (f"  {record.error}" if record.error else "")
            table.add_row(f"{record.number:04d}", record.state, _value(record.value), f"{duration:.0f} s", detail)
        return table

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())


class MlflowLog:
    """Each finished trial as one MLflow run (parameters, the metric, state, duration, run directory)."""

    def __init__(self, uri: str, experiment: str, metric: str) -> None:
        try:
            import mlflow
        except ImportError:
            raise ConfigError("--mlflow needs MLflow, which is not installed: pip install mlflow") from None
        self._mlflow = mlflow
        self.uri, self.experiment, self.metric = uri, experiment, metric
        self._lock = threading.Lock()

    def log(
        self,
        number: int,
        state: str,
        value: float | None,
        params: Mapping[str, Any],
        duration_s: float | None,
        error: str | None,
        run_dir: str | None,
    ) -> None:
        """Log one finished trial."""
        mlflow = self._mlflow
        with self._lock:
            mlflow.set_tracking_uri(self.uri)
            mlflow.set_experiment(self.experiment)
            with mlflow.start_run(run_name=f"trial-{number:04d}"):
                mlflow.log_params({key: str(v) for key, v in params.items()})
                if value is not None:
                    mlflow.log_metric(self.metric.replace("/", "_"), value)
                if duration_s is not None:
                    mlflow.log_metric("duration_s", duration_s)
                tags = {"geofm.trial": str(number), "geofm.state": state}
                if run_dir:
                    tags["geofm.run_dir"] = run_dir
                if error:
                    tags["geofm.error"] = error[:5000]
                mlflow.set_tags(tags)
