import pytest

from equations.base import CalculationCancelled


class RecordedProgress:
    """A Progress that keeps every fraction it is told, and can cancel after some calls."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.fractions: list[float] = []
        self.cancel_after = cancel_after

    def __call__(self, fraction_done: float) -> None:
        self.fractions.append(fraction_done)
        if self.cancel_after is not None and len(self.fractions) >= self.cancel_after:
            raise CalculationCancelled()

    def assert_honest(self, *, min_calls: int) -> None:
        """Called often enough, never backwards, never outside [0, 1]."""
        assert len(self.fractions) >= min_calls
        assert self.fractions == sorted(self.fractions)
        assert all(0.0 <= fraction <= 1.0 for fraction in self.fractions)


@pytest.fixture
def recorded() -> RecordedProgress:
    return RecordedProgress()
