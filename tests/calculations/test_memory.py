"""calculations.memory: freed heap memory is returned to the operating system."""

import psutil
import pytest

from calculations import memory

BLOCK_BYTES = 16 * 1024  # below glibc's mmap threshold: these come from the heap
BLOCKS = 4000  # about 64 MB


def test_release_freed_memory_returns_freed_heap_blocks_to_the_system():
    if memory._malloc_trim() is None:
        pytest.skip("not glibc: malloc_trim is not there")
    process = psutil.Process()
    blocks = [bytearray(BLOCK_BYTES) for _ in range(BLOCKS)]
    # Keep the last one, as a live result would be: the heap cannot simply shrink from its top.
    kept = blocks[-1]
    del blocks
    held = process.memory_info().rss
    memory.release_freed_memory()
    released = held - process.memory_info().rss
    assert len(kept) == BLOCK_BYTES
    assert released > BLOCK_BYTES * BLOCKS // 2, f"{released / 2**20:.1f} MiB released"
