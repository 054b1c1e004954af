# Copyright 2026 seg_ros maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.


"""The node's memory hand-back after outlier frames (``seg_ros.common.memory``), in-process."""
import ctypes
import ctypes.util
from pathlib import Path
import sys

import pytest

from seg_ros.common import memory


def test_size_jump_fires_on_a_2x_change_either_way_and_not_on_a_steady_stream():
    jump = memory.SizeJump()
    assert jump.changed(640 * 480) is False             # the first frame: nothing to compare
    assert jump.changed(640 * 480) is False
    assert jump.changed(641 * 480) is False              # small changes are the same stream
    assert jump.changed(4000 * 3000) is True             # up
    assert jump.changed(4000 * 3000) is False            # a stream of big frames keeps its heap
    assert jump.changed(640 * 480) is True               # and back down
    assert jump.changed(2 * 640 * 480) is True           # exactly 2x counts


def _rss_kb() -> int:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    raise AssertionError('no VmRSS')


@pytest.mark.skipif(not sys.platform.startswith('linux') or not ctypes.util.find_library('c'),
                    reason='glibc malloc_trim is Linux-only')
def test_trim_heap_returns_freed_heap_pages():
    # 150 MB in 64 kB blocks (under glibc's mmap threshold, so they come from the heap), freed,
    # with one block kept after them so free() cannot shrink the heap's top by itself: the
    # pages stay resident until malloc_trim gives them back.
    libc = ctypes.CDLL(ctypes.util.find_library('c'))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    block = 64 * 1024
    blocks = [libc.malloc(block) for _ in range(2400)]
    for b in blocks:
        libc.memset(b, 1, block)
    keep = libc.malloc(block)
    libc.memset(keep, 1, block)
    for b in blocks:
        libc.free(b)
    before = _rss_kb()
    assert memory.trim_heap() is True
    after = _rss_kb()
    libc.free(keep)
    assert before - after > 100 * 1024, (before, after)
