"""From an equation and its input to the exact decimal digits that are stored."""

from equations.base import Equation, Progress, no_progress, scaled
from equations.decimal import estimate_decimal_seconds, to_decimal

# Neither phase is ever shown as instantaneous: the models are rough.
_MIN_PHASE_SHARE = 0.02


def evaluate(equation: Equation, n: int, progress: Progress = no_progress) -> str:
    """Compute equation(n) and return its decimal digits, reporting progress through both
    phases; the share of each comes from the equation's cost estimates."""
    if progress is no_progress:
        compute = equation.compute_unobserved or (lambda n: equation.compute(n, no_progress))
        return compute(n).digits()
    conversion = estimate_decimal_seconds(equation.estimate_digits(n))
    total = max(equation.estimate_seconds(n), conversion, 1e-9)
    computing_share = min(max(1 - conversion / total, _MIN_PHASE_SHARE), 1 - _MIN_PHASE_SHARE)
    value = equation.compute(n, scaled(progress, 0.0, computing_share))
    return to_decimal(value, scaled(progress, computing_share, 1.0))
