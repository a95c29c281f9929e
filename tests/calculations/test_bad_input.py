"""At least a hundred malformed submissions through the form: each gets a 4xx with a clear
inline message, and nothing is created or queued."""

import re

import pytest

from calculations import services
from calculations.models import Calculation

pytestmark = pytest.mark.django_db

SEPARATORS_REFUSED = [*";|/\\:-+&#~*='\"`!?@$%^", "，", "、", "؛", "·", "\u200b", "._"]
NON_ASCII_DIGITS = ["５", "１２", "٥", "५", "৫", "๕", "𝟓", "⑤", "⁵", "Ⅴ", "½", "²", "5️⃣", "᠕"]
MALFORMED = [
    # empty
    "",
    " ",
    "\t",
    "\n",
    ",",
    ",,,",
    " , , ",
    # not whole numbers
    "abc",
    "five",
    "1.5",
    "1.0",
    ".5",
    "5.",
    "1e6",
    "1E6",
    "1e-3",
    "0x10",
    "0X1F",
    "0o7",
    "0b101",
    "1_000",
    "1 000_000",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "None",
    "null",
    "true",
    "[]",
    "{}",
    "[5]",
    "{5}",
    "<5>",
    "(5)",
    "5a",
    "a5",
    "5 a",
    "1,2,x",
    "%35",
    "%00",
    "5%",
    "$5",
    "5$",
    "'5'",
    '"5"',
    "5''",
    "1,2,3,4,five",
    # signs
    "+5",
    "-1",
    "-0",
    "+0",
    "--5",
    "+-5",
    "1, -2, 3",
    "−5",
    # control characters
    "5\x00",
    "\x005",
    "5\x00 6",
    "5\x01",
    "\x1b[31m5",
    "5\x7f",
    "\u200b5",
    # markup and injection attempts
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "5; DROP TABLE calculations",
    # out of range
    "10000001",
    "99999999999",
    "1" + "0" * 29,
    "1" + "0" * 30,
    "1" + "0" * 5000,
    "18446744073709551616",
    "9223372036854775808",
    "4, 5, 10000001",
    # too many numbers or characters
    ",".join(["1"] * 101),
    " ".join(["7"] * 150),
    "1, " * 700,
    "1" * 1_000_000,
    "1," * 500_000,
    "a" * 1_000_000,
    *[f"5{separator}6" for separator in SEPARATORS_REFUSED],
    *NON_ASCII_DIGITS,
    *[f"1, {digit}" for digit in NON_ASCII_DIGITS[:4]],
]


@pytest.fixture
def queued(monkeypatch) -> list:
    published: list = []
    monkeypatch.setattr(services, "_enqueue", lambda calculations: published.extend(calculations))
    return published


def test_bad_input_table_has_at_least_a_hundred_distinct_cases():
    assert len(set(MALFORMED)) >= 100


@pytest.mark.parametrize("text", MALFORMED, ids=lambda text: repr(text)[:40])
def test_bad_input_is_refused_with_a_message_and_nothing_created(client, queued, text):
    response = client.post("/", {"equation": "fibonacci", "n": text})

    assert response.status_code == 400
    page = response.content.decode()
    messages = re.findall(r'class="form-error"[^>]*role="alert">([^<]+)<', page)
    assert messages and all(len(message.strip()) > 10 for message in messages)
    assert Calculation.objects.count() == 0
    assert queued == []


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"equation": "nope", "n": "5"}, "Select a valid choice"),
        ({"equation": "", "n": "5"}, "This field is required"),
        ({"equation": "fibonacci"}, "This field is required"),
    ],
)
def test_bad_equation_or_missing_field_is_refused(client, queued, form, expected):
    response = client.post("/", form)
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert Calculation.objects.count() == 0 and queued == []


@pytest.mark.parametrize(
    ("text", "inputs"),
    [
        ("10000000", [10_000_000]),
        ("0", [0]),
        (" 7 ", [7]),
        ("007", [7]),
        ("4,,6", [4, 6]),
        ("1\t2\n3", [1, 2, 3]),
        ("1\u00a02\u30003", [1, 2, 3]),
        (", ".join(["1"] * 100), [1] * 100),
    ],
)
def test_edge_inputs_that_are_accepted(
    client, queued, django_capture_on_commit_callbacks, text, inputs
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/", {"equation": "fibonacci", "n": text})
    assert response.status_code == 302
    assert [c.n for c in Calculation.objects.order_by("created_at")] == inputs
    assert len(queued) == len(inputs)
