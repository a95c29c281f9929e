import gmpy2

from equations.base import Equation, Progress, no_progress
from equations.registry import register


def fibonacci(n: int, progress: Progress = no_progress) -> gmpy2.mpz:
    """Return F(n), with F(0) = 0 and F(1) = F(2) = 1.

    GMP's mpz_fib_ui uses the doubling identities: O(log n) big-number multiplications.
    """
    if n < 0:
        raise ValueError(f"Fibonacci numbers are defined here for n >= 0, not {n}")
    return gmpy2.fib(n)


EQUATION = register(
    Equation(
        key="fibonacci",
        label="Fibonacci number F(n)",
        description="The n-th Fibonacci number, exact: F(0) = 0, F(1) = F(2) = 1.",
        compute=fibonacci,
        default_max_n=10_000_000,
    )
)
