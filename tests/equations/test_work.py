import math

import pytest

from equations.work import LEAF_FACTORS, WorkMeter, product, product_work
from tests.equations.conftest import RecordedProgress


def test_work_meter_reports_the_fraction_done_and_never_more_than_one(recorded):
    meter = WorkMeter(recorded, total=10)
    for work in (2, 3, 10):
        meter.advance(work)
    assert recorded.fractions == [0.2, 0.5, 1.0]


@pytest.mark.parametrize("count", [0, 1, LEAF_FACTORS, LEAF_FACTORS + 1, 1000])
def test_product_equals_math_prod(count):
    factors = list(range(3, 3 + 2 * count, 2))
    assert product(factors, WorkMeter(RecordedProgress(), 1)) == math.prod(factors)


def test_product_work_plans_what_product_reports_within_ten_percent(recorded):
    factors = list(range(10**6, 10**6 + 50_000))
    unclamped = 1e30
    product(factors, WorkMeter(recorded, total=unclamped))
    reported, planned = recorded.fractions[-1] * unclamped, product_work(factors)
    assert abs(reported - planned) / planned < 0.10
