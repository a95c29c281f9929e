"""Rows for unit tests, created directly through the ORM (no service, no broker).

The previews are cut here by the documented rule (whole up to 60 digits, else the first and
last 24) rather than by `calculations.output.summarise`, so that tests of the pages do not
depend on the code they check.
"""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.callers import Caller, caller_for_user
from calculations.models import Calculation, CalculationOutput

S = Calculation.Status
PREVIEW_FULL_DIGITS = 60
PREVIEW_EDGE_DIGITS = 24


def default_owner():
    """The user who owns factory rows unless told otherwise (the signed-in `client` of the
    page and API tests); who sees what is tested in tests/accounts/test_access.py."""
    user, _ = get_user_model().objects.get_or_create(username="owner")
    return user


def owner_caller() -> Caller:
    return caller_for_user(default_owner())


def make_calculation(**fields) -> Calculation:
    """A calculation row, PENDING unless told otherwise, owned by default_owner()."""
    defaults = {"equation": "fibonacci", "n": 10}
    if "owner" not in fields and "anonymous_key" not in fields:
        defaults["owner"] = default_owner()
    return Calculation.objects.create(**(defaults | fields))


def make_finished(status: str, *, finished_ago: timedelta = timedelta(0), **fields) -> Calculation:
    """A SUCCESS, ERROR or CANCELLED row that finished `finished_ago` before now (no output)."""
    finished_at = timezone.now() - finished_ago
    defaults = {
        "status": status,
        "created_at": finished_at - timedelta(seconds=2),
        "started_at": finished_at - timedelta(seconds=1),
        "finished_at": finished_at,
        "attempts": 1,
        "worker": "test@host:1",
    }
    return make_calculation(**(defaults | fields))


def make_success(digits: str, **fields) -> Calculation:
    """A SUCCESS row whose output is `digits`, stored as the worker would store it."""
    short = len(digits) <= PREVIEW_FULL_DIGITS
    calculation = make_finished(
        S.SUCCESS,
        **(
            {
                "output_digits": len(digits),
                "output_head": digits if short else digits[:PREVIEW_EDGE_DIGITS],
                "output_tail": "" if short else digits[-PREVIEW_EDGE_DIGITS:],
                "progress": 1.0,
            }
            | fields
        ),
    )
    CalculationOutput.objects.create(calculation=calculation, digits=digits)
    return calculation


def random_digits(count: int, *, seed: int = 1) -> str:
    """`count` pseudo-random decimal digits without a leading zero: any long run of them
    occurs once, so finding a slice of them in a page says which part was shown."""
    rng = random.Random(seed)
    return str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(count - 1))
