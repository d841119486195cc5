"""The CPU backend keeps freed large blocks mapped (glibc), so a training step stops faulting them in again."""
import resource

import pytest

from lumen.backends.cpu import memory

pytestmark = pytest.mark.skipif(memory._fn is None, reason="mallopt is glibc's; other C libraries are left alone")


def _faults_to_refill(nbytes):
    """Minor page faults while allocating, filling and freeing a fresh block, after one warm-up round."""
    block = bytearray(nbytes)  # bytearray zero-fills: every page is touched
    del block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = bytearray(nbytes)
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_blocks_are_reused_without_page_faults():
    pages = (64 << 20) // resource.getpagesize()
    try:
        assert memory.cache_freed_memory(False)
        assert _faults_to_refill(64 << 20) > pages // 2  # glibc maps and unmaps it every time
        assert memory.cache_freed_memory(True)
        assert _faults_to_refill(64 << 20) < pages // 20
    finally:
        memory.cache_freed_memory(True)  # the backend's setting
