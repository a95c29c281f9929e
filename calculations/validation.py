"""Input rules shared by every way of submitting (form, API, admin): bounds and batch size."""

from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError

from equations import registry
from equations.base import Equation

# Without CALCQUEUE_ANON_MAX_N for an equation, anonymous callers get this fraction of the
# signed-in bound.
ANON_MAX_N_DIVISOR = 10


def max_n_for(equation: Equation, *, signed_in: bool) -> int:
    """The largest n this caller may ask for: lower for anonymous callers, never higher."""
    bound = settings.CALCQUEUE_MAX_N.get(equation.key, equation.default_max_n)
    if signed_in:
        return bound
    anonymous = settings.CALCQUEUE_ANON_MAX_N.get(equation.key, bound // ANON_MAX_N_DIVISOR)
    return min(anonymous, bound)


def _range_text(equation: Equation, *, signed_in: bool) -> str:
    high = max_n_for(equation, signed_in=signed_in)
    text = f"{equation.label} takes n from {equation.min_n:,} to {high:,}"
    if not signed_in and max_n_for(equation, signed_in=True) > high:
        text += f" (signed in: to {max_n_for(equation, signed_in=True):,})"
    return text


def equation_for(key: str) -> Equation:
    try:
        return registry.get(key)
    except registry.UnknownEquationError as error:
        raise ValidationError(str(error), code="unknown_equation") from None


def validate_inputs(equation: Equation, inputs: Sequence[int], *, signed_in: bool) -> None:
    """Raise ValidationError naming every input outside the equation's bounds."""
    if not inputs:
        raise ValidationError("Enter at least one number.", code="empty")
    max_batch = settings.CALCQUEUE_MAX_BATCH
    if len(inputs) > max_batch:
        raise ValidationError(
            f"At most {max_batch} numbers at once; you entered {len(inputs)}.",
            code="too_many",
        )
    low, high = equation.min_n, max_n_for(equation, signed_in=signed_in)
    bad = [n for n in inputs if not low <= n <= high]
    if bad:
        shown = ", ".join(str(n) for n in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValidationError(
            f"{_range_text(equation, signed_in=signed_in)}; out of range: {shown}.",
            code="out_of_range",
        )


def validate_items(items: Sequence[tuple[str, int]], *, max_batch: int, signed_in: bool) -> None:
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
        if not equation.min_n <= n <= max_n_for(equation, signed_in=signed_in):
            errors[f"items[{index}].n"] = [
                f"{_range_text(equation, signed_in=signed_in)}; got {n:,}."
            ]
    if errors:
        raise ValidationError(errors)
