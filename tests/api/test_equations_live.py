"""Every registered equation, end to end: submitted through the API of a live server to a
real worker, and its digits read back on every path — the list page's preview, the detail
page, the page's download, the API's inline `output` and the API's stream — each compared
with a value computed here by other means (plain Python, `math`, GMP's own functions)."""

import html
import math
import re
from collections.abc import Callable, Iterator

import gmpy2
import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from equations import registry

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The list page shows an output whole up to this many digits, else its first and last 24;
# the detail page whole up to 2,000, else its first and last 200 (README "Where outputs
# live"). Written out here, not imported, so that the pages are checked against the rule.
LIST_WHOLE_DIGITS, LIST_EDGE_DIGITS = 60, 24
DETAIL_WHOLE_DIGITS, DETAIL_EDGE_DIGITS = 2000, 200
WAIT_SECONDS = 30
FINAL_TIMEOUT_SECONDS = 120


def _fibonacci(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _nth_prime(n: int) -> int:
    prime = 1
    for _ in range(n):
        prime = int(gmpy2.next_prime(prime))
    return prime


def _pi_digits(n: int) -> int:
    """⌊π·10ⁿ⌋ from MPFR's π, with 64 bits beyond the n digits asked for."""
    with gmpy2.context(precision=int(n * math.log2(10)) + 64):
        return int(gmpy2.floor(gmpy2.const_pi() * gmpy2.mpz(10) ** n))


# Each equation's small inputs (its min_n is added) and an independent reference. Sizes are
# picked to reach every way an output is shown: whole everywhere, head…tail in the list,
# head and tail on the detail page, and cut at CALCQUEUE_API_OUTPUT_DIGITS in the API.
CASES: dict[str, tuple[list[int], Callable[[int], int]]] = {
    "fibonacci": ([10, 1000, 50_000], _fibonacci),  # 2, 209 and 10,450 digits
    "factorial": ([20, 1000], math.factorial),  # 19 and 2,568 digits
    "nth_prime": ([1000], _nth_prime),  # 7919
    "pi_digits": ([59, 100, 3000], _pi_digits),  # 60, 101 and 3,001 digits
}


def _registered() -> list[str]:
    return [equation.key for equation in registry.all_equations()]


def test_every_registered_equation_has_a_case():
    missing = set(_registered()) - set(CASES)
    assert not missing, (
        f"no end-to-end case for {sorted(missing)}: add its small inputs and an independent "
        "reference to CASES in tests/api/test_equations_live.py"
    )
    assert set(CASES) <= set(_registered()), "CASES names an equation that is not registered"


@pytest.fixture
def pages(live_stack, api) -> Iterator[httpx.Client]:
    """The pages of the live server, signed in as the API token's user."""
    browser = Client()
    browser.force_login(get_user_model().objects.get(username="program"))
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    with httpx.Client(
        base_url=live_stack.url, timeout=30, cookies={settings.SESSION_COOKIE_NAME: cookie}
    ) as client:
        yield client


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _list_preview(page: str, calculation_id: str) -> str:
    row = re.search(
        rf'<tr id="calculation-{calculation_id}" data-status="SUCCESS".*?</tr>', page, re.DOTALL
    )
    assert row, f"no SUCCESS row for {calculation_id} on the list page"
    (cell,) = re.findall(r'<td role="cell" class="output">(.*?)</td>', row.group(0), re.DOTALL)
    return _text(cell)


def _detail_output(page: str) -> tuple[str, str]:
    """The digits shown on the detail page, and its digit count heading."""
    shown = re.search(r'<pre class="output-[a-z]+" id="output">(.*?)</pre>', page, re.DOTALL)
    count = re.search(r'<h2>Output <span class="digit-count">\((.*?)\)</span></h2>', page)
    assert shown and count, "the detail page shows no output"
    return html.unescape(shown.group(1)), count.group(1)


@pytest.mark.parametrize("key", _registered())
def test_every_output_path_agrees_with_an_independent_value(key, api, pages):
    if key not in CASES:
        pytest.fail(f"no end-to-end case for the registered equation {key!r}: add one to CASES")
    inputs, reference = CASES[key]
    numbers = sorted({registry.get(key).min_n, *inputs})
    expected = {n: gmpy2.mpz(reference(n)).digits() for n in numbers}

    submitted = api.post(
        "/api/calculations", json={"items": [{"equation": key, "n": n} for n in numbers]}
    )
    assert submitted.status_code == 202, submitted.text
    items = submitted.json()["items"]
    for item in items:
        digits = expected[item["n"]]
        count = len(digits)
        final = api.get(
            item["links"]["self"], params={"wait": WAIT_SECONDS}, timeout=WAIT_SECONDS + 10
        ).json()
        assert final["status"] == "SUCCESS", final

        # The API: inline up to CALCQUEUE_API_OUTPUT_DIGITS, and the stream of all of them.
        inline = settings.CALCQUEUE_API_OUTPUT_DIGITS
        assert (final["output"], final["output_digits"]) == (digits[:inline], count)
        assert final["output_truncated"] is (count > inline)
        streamed = api.get(final["links"]["output"])
        assert streamed.text == digits and streamed.headers["Content-Length"] == str(count)

        # The page's download.
        download = pages.get(f"/calculations/{item['id']}/output.txt")
        assert download.status_code == 200 and download.text == digits

        # The detail page: whole, or the first and last 200 with the count between them.
        shown, heading = _detail_output(pages.get(final["links"]["page"]).text)
        assert heading == f"{count:,} digit" + ("s" if count != 1 else "")
        if count <= DETAIL_WHOLE_DIGITS:
            assert shown == digits
        else:
            edge = DETAIL_EDGE_DIGITS
            assert shown == f"{digits[:edge]}\n… {count:,} digits in all …\n{digits[-edge:]}"

    # The list page, once every calculation of the batch is final.
    list_page = pages.get("/").text
    for item in items:
        digits = expected[item["n"]]
        count = len(digits)
        preview = _list_preview(list_page, item["id"])
        if count <= LIST_WHOLE_DIGITS:
            assert preview == digits
        else:
            edge = LIST_EDGE_DIGITS
            assert preview == f"{digits[:edge]}…{digits[-edge:]} ({count:,} digits)"
