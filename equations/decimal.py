"""Decimal digits of huge integers, with progress.

For a large output the conversion to decimal costs several times the computation itself
(F(10⁸): 0.4 s to compute, 3.3 s to convert), and GMP's mpz_get_str is one opaque call. This
is the same divide-and-conquer algorithm driven from Python: split by 10^(k·2^i), convert
the halves, report after every division. Within about 10% of `.digits()` from 10⁵ digits and
3% from 10⁷ (`python -m bench.equations`).
"""

import math

import gmpy2

from equations.base import Progress, no_progress
from equations.work import WorkMeter

# Below this many digits GMP converts in one call; the Python recursion stops here.
LEAF_DIGITS = 1 << 14

# Cost model in digit units, fitted to per-level timings of a 20.9-million-digit conversion:
# a division splitting d digits costs about d·(log2 d − 10), a leaf about 11.5 per digit, and
# the chain of squarings that makes the powers of ten about half the top division.
_DIVISION_LOG_OFFSET = 10
_LEAF_WORK_PER_DIGIT = 11.5
_POWERS_SHARE_OF_TOP = 0.5


def _division_work(digits: int) -> float:
    return digits * max(math.log2(max(digits, 2)) - _DIVISION_LOG_OFFSET, 1.0)


def estimate_decimal_seconds(digits: int) -> float:
    """Seconds to convert `digits` digits: fitted to conversions of 0.2 to 21 million digits."""
    return 1.67e-9 * digits**1.271


def to_decimal(value: gmpy2.mpz, progress: Progress = no_progress) -> str:
    """Return the decimal digits of `value`, as `value.digits()` does."""
    if value < 0:
        return "-" + to_decimal(-value, progress)
    total_digits = gmpy2.num_digits(value, 10)  # exact, or one too many
    if total_digits <= LEAF_DIGITS:
        return value.digits()
    # powers[i] = 10^(LEAF_DIGITS·2^i); a node at level i is below powers[i]², so it splits
    # into powers[i]-sized halves.
    top = math.ceil(math.log2(total_digits / LEAF_DIGITS)) - 1
    chunk_digits = [LEAF_DIGITS << level for level in range(top + 1)]
    top_work = _division_work(total_digits)
    meter = WorkMeter(
        progress,
        _POWERS_SHARE_OF_TOP * top_work
        + sum(total_digits / (2 * digits) * _division_work(2 * digits) for digits in chunk_digits)
        + _LEAF_WORK_PER_DIGIT * total_digits,
    )
    powers = [gmpy2.mpz(10) ** LEAF_DIGITS]
    for _ in range(top):
        powers.append(powers[-1] ** 2)
    meter.advance(_POWERS_SHARE_OF_TOP * top_work)

    pieces: list[str] = []
    _convert(value, top, total_digits, False, powers, chunk_digits, pieces, meter)
    return "".join(pieces)


def _convert(
    number: gmpy2.mpz,
    level: int,
    digits: int,
    zero_padded: bool,
    powers: list[gmpy2.mpz],
    chunk_digits: list[int],
    pieces: list[str],
    meter: WorkMeter,
) -> None:
    # A function of the module, not a closure: a recursive closure is a reference cycle that
    # would keep the pieces and the powers (some 40 MB for 20 million digits) alive until the
    # garbage collector's next pass, long after the digits are joined.
    if level < 0:
        text = number.digits()
        pieces.append(text.zfill(LEAF_DIGITS) if zero_padded else text)
        meter.advance(_LEAF_WORK_PER_DIGIT * digits)
        return
    high, low = gmpy2.t_divmod(number, powers[level])
    meter.advance(_division_work(digits))
    if high or zero_padded:
        _convert(
            high,
            level - 1,
            digits - chunk_digits[level],
            zero_padded,
            powers,
            chunk_digits,
            pieces,
            meter,
        )
    _convert(
        low,
        level - 1,
        chunk_digits[level],
        bool(high) or zero_padded,
        powers,
        chunk_digits,
        pieces,
        meter,
    )
