"""The throughput chart as SVG geometry, computed here so that the template holds only
attributes (no inline style, no script: the page stays within a strict CSP)."""

from dataclasses import dataclass

from monitoring.selectors import MinuteCount, Throughput

WIDTH = 600
HEIGHT = 120
BAR_GAP = 2
# Stacked from the bottom: what matters most first.
OUTCOMES = ("success", "error", "cancelled")


@dataclass(frozen=True)
class Segment:
    outcome: str
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    minute: MinuteCount
    x: float
    width: float
    segments: list[Segment]

    @property
    def time(self) -> str:
        return self.minute.start.strftime("%H:%M")

    @property
    def title(self) -> str:
        m = self.minute
        return f"{self.time} UTC: {m.success} succeeded, {m.error} failed, {m.cancelled} cancelled"


def throughput_bars(throughput: Throughput) -> list[Bar]:
    """One bar per minute, oldest on the left, scaled so the busiest minute fills the height."""
    count = len(throughput.minutes) or 1
    slot = WIDTH / count
    scale = HEIGHT / max(throughput.busiest, 1)
    bars = []
    for index, minute in enumerate(throughput.minutes):
        bottom, segments = float(HEIGHT), []
        for outcome in OUTCOMES:
            height = getattr(minute, outcome) * scale
            if height:
                bottom -= height
                segments.append(Segment(outcome, round(bottom, 2), round(height, 2)))
        bars.append(Bar(minute, round(index * slot, 2), round(slot - BAR_GAP, 2), segments))
    return bars
