"""calculations.output.summarise: what the row keeps for previews."""

import pytest

from calculations.output import OutputSummary, summarise
from tests.calculations.factories import random_digits


@pytest.mark.parametrize("length", [1, 2, 24, 48, 59, 60])
def test_summarise_keeps_up_to_60_digits_whole_in_the_head(length):
    digits = random_digits(length, seed=length)
    assert summarise(digits) == OutputSummary(digits=length, head=digits, tail="")


@pytest.mark.parametrize("length", [61, 62, 100, 5000])
def test_summarise_cuts_longer_outputs_to_24_digit_head_and_tail(length):
    digits = random_digits(length, seed=length)
    summary = summarise(digits)
    assert summary.digits == length
    assert summary.head == digits[:24]
    assert summary.tail == digits[-24:]


def test_summarise_of_zero_is_the_digit_zero():
    assert summarise("0") == OutputSummary(digits=1, head="0", tail="")


def test_summarise_of_61_digits_overlaps_nothing_and_loses_only_the_middle():
    digits = "".join(str(i % 10) for i in range(61))
    summary = summarise(digits)
    assert summary.head + digits[24:37] + summary.tail == digits
