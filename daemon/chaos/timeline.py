"""The run's timeline: MOs, acknowledgements and replies per second, which faults were on, when the
daemon was killed and when it was down; and its plot (matplotlib, PNG)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_S = 0.5


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float
    injected: int
    acked: int
    replies: int
    daemon_up: bool  # bound to the SMSC


@dataclass
class Timeline:
    samples: list[Sample] = field(default_factory=list)
    faults: list[tuple[str, float, float]] = field(default_factory=list)  # kind, on_s, off_s
    kills: list[float] = field(default_factory=list)
    started_at_s: float = 0.0  # the wall-clock time sample times count from
    _on: dict[int, tuple[str, float]] = field(default_factory=dict)

    def sample(self, sample: Sample) -> None:
        self.samples.append(sample)

    def fault_on(self, key: int, kind: str, at_s: float) -> None:
        self._on[key] = (kind, at_s)

    def fault_off(self, key: int, at_s: float) -> None:
        kind, on_s = self._on.pop(key)
        self.faults.append((kind, on_s, at_s))

    def close(self, at_s: float) -> None:
        for key in list(self._on):
            self.fault_off(key, at_s)

    def down_spans_s(self) -> list[tuple[float, float]]:
        """When the daemon was not bound (killed, starting, its link down), in wall-clock seconds
        (a sample's time plus `started_at_s`), widened by one sample each side."""
        spans: list[tuple[float, float]] = []
        down_since_s: float | None = None
        for sample in self.samples:
            at_s = self.started_at_s + sample.at_s
            if not sample.daemon_up and down_since_s is None:
                down_since_s = at_s - SAMPLE_S
            elif sample.daemon_up and down_since_s is not None:
                spans.append((down_since_s, at_s))
                down_since_s = None
        if down_since_s is not None and self.samples:
            spans.append((down_since_s, self.started_at_s + self.samples[-1].at_s))
        return spans

    def as_json(self) -> dict[str, Any]:
        return {
            "samples": [
                [s.at_s, s.injected, s.acked, s.replies, s.daemon_up] for s in self.samples
            ],
            "faults": [
                [kind, round(on_s, 2), round(off_s, 2)] for kind, on_s, off_s in self.faults
            ],
            "kills": [round(at_s, 2) for at_s in self.kills],
        }


def _rates(samples: list[Sample], attribute: str) -> tuple[list[float], list[float]]:
    times, rates = [], []
    for before, after in itertools.pairwise(samples):
        span_s = after.at_s - before.at_s
        if span_s > 0:
            times.append(after.at_s)
            rates.append((getattr(after, attribute) - getattr(before, attribute)) / span_s)
    return times, rates


def plot(timeline: Timeline, path: Path, title: str) -> None:
    """Two panels: rates (MOs sent, acknowledged, replies) with the daemon's down time shaded and
    each SIGKILL a red line; below, one row per fault kind with a bar while it was on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({kind for kind, _, _ in timeline.faults})
    figure, (rates, faults) = plt.subplots(
        2, 1, figsize=(12, 3.5 + 0.3 * max(len(kinds), 1)), sharex=True,
        gridspec_kw={"height_ratios": [2, 1 + 0.15 * len(kinds)]},
    )  # fmt: skip
    for attribute, label in (("injected", "MOs sent"), ("acked", "MOs acknowledged"),
                             ("replies", "SMS received")):  # fmt: skip
        times, values = _rates(timeline.samples, attribute)
        rates.plot(times, values, label=label, linewidth=1)
    for before, after in zip(timeline.samples, timeline.samples[1:], strict=False):
        if not after.daemon_up:
            rates.axvspan(before.at_s, after.at_s, color="0.85", linewidth=0)
    for at_s in timeline.kills:
        for axes in (rates, faults):
            axes.axvline(at_s, color="red", linewidth=0.8)
    rates.set_ylabel("per second")
    rates.set_title(title)
    rates.legend(loc="upper right", fontsize="small")
    for row, kind in enumerate(kinds):
        spans = [(on_s, off_s - on_s) for k, on_s, off_s in timeline.faults if k == kind]
        faults.broken_barh(spans, (row - 0.4, 0.8), color=f"C{row % 10}")
    faults.set_yticks(range(len(kinds)), kinds, fontsize="small")
    faults.set_xlabel("seconds (grey: daemon not bound; red: SIGKILL)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
