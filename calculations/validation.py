"""Input rules shared by every way of submitting (form, API, admin): bounds and batch size."""

from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError

from equations import registry
from equations.base import Equation


def max_n_for(equation: Equation) -> int:
    return settings.CALCQUEUE_MAX_N.get(equation.key, equation.default_max_n)


def equation_for(key: str) -> Equation:
    try:
        return registry.get(key)
    except registry.UnknownEquationError as error:
        raise ValidationError(str(error), code="unknown_equation") from None


def validate_inputs(equation: Equation, inputs: Sequence[int]) -> None:
    """Raise ValidationError naming every input outside the equation's bounds."""
    if not inputs:
        raise ValidationError("Enter at least one number.", code="empty")
    max_batch = settings.CALCQUEUE_MAX_BATCH
    if len(inputs) > max_batch:
        raise ValidationError(
            f"At most {max_batch} numbers at once; you entered {len(inputs)}.",
            code="too_many",
        )
    low, high = equation.min_n, max_n_for(equation)
    bad = [n for n in inputs if not low <= n <= high]
    if bad:
        shown = ", ".join(str(n) for n in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValidationError(
            f"{equation.label} takes n from {low:,} to {high:,}; out of range: {shown}.",
            code="out_of_range",
        )


def validate_items(items: Sequence[tuple[str, int]], *, max_batch: int) -> None:
    """Raise ValidationError for a list of (equation, n) requests: too few or too many (code
    "empty" / "too_many"), or a dict of messages keyed by the field at fault, like
    "items[3].n"."""
    if not items:
        raise ValidationError("Give at least one calculation.", code="empty")
    if len(items) > max_batch:
        raise ValidationError(
            f"At most {max_batch} calculations at once; you sent {len(items)}.", code="too_many"
        )
    errors: dict[str, list[str]] = {}
    for index, (key, n) in enumerate(items):
        try:
            equation = equation_for(key)
        except ValidationError as error:
            errors[f"items[{index}].equation"] = error.messages
            continue
        low, high = equation.min_n, max_n_for(equation)
        if not low <= n <= high:
            errors[f"items[{index}].n"] = [
                f"{equation.label} takes n from {low:,} to {high:,}; got {n:,}."
            ]
    if errors:
        raise ValidationError(errors)
