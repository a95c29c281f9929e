import pytest

from equations.sieve import odd_primes_up_to

# π(x), the number of primes up to x (OEIS A006880 for powers of ten).
PRIME_COUNTS = {2: 1, 3: 2, 10: 4, 100: 25, 1000: 168, 10**4: 1229, 10**5: 9592, 10**6: 78498}


@pytest.mark.parametrize(("limit", "count"), PRIME_COUNTS.items())
def test_odd_primes_up_to_counts_every_prime_but_two(limit, count):
    assert len(odd_primes_up_to(limit)) == count - 1


def test_odd_primes_up_to_lists_the_first_primes_in_order():
    assert odd_primes_up_to(50) == [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]
    assert odd_primes_up_to(49)[-1] == 47 and odd_primes_up_to(47)[-1] == 47


@pytest.mark.parametrize("limit", [-5, 0, 1, 2])
def test_odd_primes_up_to_a_tiny_limit_is_empty(limit):
    assert odd_primes_up_to(limit) == []
