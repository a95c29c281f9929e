"""Give back to the operating system the memory a large calculation freed.

glibc keeps freed blocks smaller than its mmap threshold (128 KiB by default) in the
process's heap for reuse: after a 20-million-digit result a pool process would go on holding
some 40 MB it no longer uses (the decimal conversion's pieces, GMP's temporaries), and so
would each of the 12 processes that ever computed one. malloc_trim(0) returns it.
"""

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim this way
        return None


def release_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
