from collections.abc import Callable
from dataclasses import dataclass

import gmpy2


@dataclass(frozen=True, kw_only=True)
class Equation:
    """One kind of calculation: what it is called, which inputs it takes, how to compute it."""

    key: str
    label: str
    description: str
    compute: Callable[[int], gmpy2.mpz]
    default_max_n: int
    min_n: int = 0
