import itertools
from datetime import UTC, datetime, timedelta

from monitoring import charts
from monitoring.selectors import MinuteCount, Throughput

START = datetime(2026, 1, 1, tzinfo=UTC)


def throughput(*counts: tuple[int, int, int]) -> Throughput:
    return Throughput(
        minutes=[
            MinuteCount(START + timedelta(minutes=i), success=s, error=e, cancelled=c)
            for i, (s, e, c) in enumerate(counts)
        ]
    )


def test_throughput_bars_scale_the_busiest_minute_to_the_full_height():
    bars = charts.throughput_bars(throughput((4, 0, 0), (1, 1, 0), (0, 0, 0)))
    assert len(bars) == 3
    (full,) = bars[0].segments
    assert (full.outcome, full.y, full.height) == ("success", 0.0, charts.HEIGHT)
    success, error = bars[1].segments
    assert success.height == error.height == charts.HEIGHT / 4
    assert error.y + error.height == success.y  # stacked: errors on top of successes
    assert success.y + success.height == charts.HEIGHT
    assert bars[2].segments == []


def test_throughput_bars_sit_side_by_side_across_the_width():
    bars = charts.throughput_bars(throughput(*[(1, 0, 0)] * 60))
    assert bars[0].x == 0
    assert bars[-1].x + bars[-1].width + charts.BAR_GAP == charts.WIDTH
    assert all(b.x < later.x for b, later in itertools.pairwise(bars))


def test_throughput_bars_of_an_idle_hour_are_empty():
    bars = charts.throughput_bars(throughput(*[(0, 0, 0)] * 60))
    assert all(bar.segments == [] for bar in bars)
