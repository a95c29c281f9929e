"""calculations.parsing: the text a person types, turned into whole numbers or refused."""

import pytest
from django.core.exceptions import ValidationError

from calculations.parsing import parse_numbers


def refusal(text: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_numbers(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("39, 4, 6, 32", [39, 4, 6, 32]),
        ("39,4,6,32", [39, 4, 6, 32]),
        ("39 4 6 32", [39, 4, 6, 32]),
        (" 7 ", [7]),
        ("7", [7]),
        ("0", [0]),
        ("4,,6", [4, 6]),
        (",4,6,", [4, 6]),
        ("1\t2\n3", [1, 2, 3]),
        ("\n 5 \t", [5]),
        ("1\r\n2", [1, 2]),
        ("1 ,\t2 ,, 3", [1, 2, 3]),
        ("1\u00a02\u30003", [1, 2, 3]),  # No-break and ideographic spaces are white space.
        ("007", [7]),
        ("000", [0]),
        ("5, 5, 5", [5, 5, 5]),  # Repeats are kept: each is a calculation asked for.
        ("10000000", [10_000_000]),
        ("1" * 30, [int("1" * 30)]),  # 30 digits: the parser's limit, bounds come later.
        ("0" * 40 + "7", [7]),  # Leading zeros do not count towards the digit limit.
    ],
    ids=repr,
)
def test_parse_numbers_accepts(text, expected):
    assert parse_numbers(text) == expected


def test_parse_numbers_returns_python_ints_in_the_order_typed():
    numbers = parse_numbers("32, 6, 4, 39")
    assert numbers == [32, 6, 4, 39]
    assert all(type(number) is int for number in numbers)


@pytest.mark.parametrize("text", ["", "   ", ",", ",,,", " , ,\t", "\n"], ids=repr)
def test_parse_numbers_refuses_empty_text(text):
    error = refusal(text)
    assert error.code == "empty"
    assert error.messages == ["Enter at least one number, e.g. 39, 4, 6, 32."]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("abc", "“abc”: it is not a whole number"),
        ("1.5", "“1.5”: it is not a whole number"),
        ("1e6", "“1e6”: it is not a whole number"),
        ("+5", "“+5”: write it without a sign"),
        ("-1", "“-1”: write it without a sign"),
        ("-0", "“-0”: write it without a sign"),
        ("1_000", "“1_000”: it is not a whole number"),
        ("0x10", "“0x10”: it is not a whole number"),
        ("NaN", "“NaN”: it is not a whole number"),
        ("inf", "“inf”: it is not a whole number"),
        ("５", "“５”: use the digits 0-9 only"),  # Full-width five.
        ("٥", "“٥”: use the digits 0-9 only"),  # Arabic-Indic five.
        ("5;6", "“5;6”: it is not a whole number"),
        ("5|6", "“5|6”: it is not a whole number"),
        ("5/6", "“5/6”: it is not a whole number"),
        ("5\x00", "“5\x00”: it is not a whole number"),
        ("\x00", "“\x00”: it is not a whole number"),
        ("--5", "“--5”: it is not a whole number"),
    ],
    ids=repr,
)
def test_parse_numbers_refuses_and_names_the_bad_token(text, detail):
    error = refusal(text)
    assert error.code == "invalid"
    (message,) = error.messages
    assert message == f"Enter whole numbers separated by commas or spaces. {detail}."


def test_parse_numbers_refuses_a_31_digit_number():
    error = refusal("1" * 31)
    assert error.code == "out_of_range"
    assert error.messages == ["31-digit number: far above the largest allowed input."]


def test_parse_numbers_refuses_a_huge_number_without_reading_it():
    error = refusal("1" + "0" * 5000)
    assert error.messages == ["5,001-digit number: far above the largest allowed input."]


def test_parse_numbers_names_only_the_bad_tokens_among_good_ones():
    (message,) = refusal("1, abc, 2, +3").messages
    assert "“abc”: it is not a whole number" in message
    assert "“+3”: write it without a sign" in message
    assert "“1”" not in message and "“2”" not in message


def test_parse_numbers_names_three_bad_tokens_and_counts_the_rest():
    (message,) = refusal("a b c d e").messages
    assert message.count("it is not a whole number") == 3
    assert "“a”" in message and "“b”" in message and "“c”" in message
    assert "“d”" not in message
    assert message.endswith("(and 2 more).")


def test_parse_numbers_shortens_a_long_bad_token_in_its_message():
    (message,) = refusal("x" * 50).messages
    assert "“" + "x" * 20 + "…”" in message
    assert "x" * 21 not in message


def test_parse_numbers_checks_every_token_before_the_digit_limit():
    # A malformed entry is reported even when another one is too long.
    error = refusal("1" * 40 + ", abc")
    assert error.code == "invalid"
    assert "“abc”" in error.messages[0]
