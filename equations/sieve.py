"""Small primes by the sieve of Eratosthenes, for the equations that need them."""

import itertools
import math


def odd_primes_up_to(limit: int) -> list[int]:
    """The odd primes p <= limit, in order. The sieve holds odd numbers only: index i is 2i+1."""
    if limit < 3:
        return []
    size = (limit - 1) // 2 + 1
    is_prime = bytearray([1]) * size
    is_prime[0] = 0  # 1
    for index in range(1, (math.isqrt(limit) - 1) // 2 + 1):
        if is_prime[index]:
            p = 2 * index + 1
            first = p * p // 2
            is_prime[first::p] = bytes(len(range(first, size, p)))
    return [2 * index + 1 for index in itertools.compress(range(size), is_prime)]
