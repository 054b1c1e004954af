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


"""
The worker and its one-slot mailbox, driven directly: no ROS process, real threads.

Each test waits on events the job sets (never on sleeps for ordering), with generous timeouts
that only bound a failure.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Optional

import pytest
from seg_ros.ros.worker import Mailbox, Pipeline, Put, Requests, Worker

WAIT = 10.0   # seconds; only reached when a test fails


class Recorder:
    """A real job: records what it is given; ``gate`` holds an item until the test opens it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()       # set when process() begins an item
        self.raise_on: Optional[object] = None
        self.reload_raises = False
        self.threads: set[str] = set()

    def _add(self, kind: str, value: object) -> None:
        with self.changed:
            self.events.append((kind, value))
            self.threads.add(threading.current_thread().name)
            self.changed.notify_all()

    def describe(self, item: object) -> str:
        return f'item {item}'

    def reload(self, requests: Requests) -> None:
        self._add('reload', requests)
        if self.reload_raises:
            raise RuntimeError('reload broke')

    def process(self, item: object) -> None:
        self.started.set()
        assert self.gate.wait(WAIT)
        self._add('process', item)
        if item == self.raise_on:
            raise ValueError(f'bad {item}')

    def failed(self, what: str, exc: Exception) -> None:
        self._add('failed', (what, str(exc)))

    def settle(self) -> None:
        self._add('settle', None)

    def wait_for(self, kind: str, value: object = None, count: int = 1) -> bool:
        def seen() -> bool:
            return sum(1 for k, v in self.events
                       if k == kind and (value is None or v == value)) >= count
        with self.changed:
            return self.changed.wait_for(seen, WAIT)

    def of(self, kind: str) -> list[object]:
        with self.lock:
            return [v for k, v in self.events if k == kind]


class Watch:
    """The watchdog hooks, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def begin(self, what: str, now: float) -> None:
        self.calls.append(('begin', what))

    def end(self) -> None:
        self.calls.append(('end', ''))


@pytest.fixture
def job():
    return Recorder()


@pytest.fixture
def worker(job):
    w: Worker[object] = Worker(job, name='test_worker')
    yield w
    job.gate.set()
    assert w.stop(WAIT)


# ---------------------------------------------------------------- the mailbox alone
def test_mailbox_keeps_the_newest_item_and_counts_the_ones_it_replaced():
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is Put.CLOSED and box.dropped == 0     # nobody serves it yet
    gen = box.begin()
    assert box.put(1) is Put.STORED
    assert box.put(2) is Put.REPLACED
    assert box.put(3) is Put.REPLACED
    assert box.dropped == 2
    assert box.take(gen, timeout=0) == 3
    assert box.take(gen, timeout=0.01) is None               # empty: times out
    assert box.put(4) is Put.STORED and box.dropped == 2     # taken items are no drops


def test_a_new_generation_starts_empty_and_ends_the_old_one():
    box: Mailbox[str] = Mailbox()
    old = box.begin()
    box.put('before the transition')
    new = box.begin()
    assert not box.serves(old) and box.serves(new)
    assert box.take(old, timeout=0) is None                  # the old consumer gets nothing
    assert box.take(new, timeout=0.01) is None               # nor the new one: no stale item
    box.close()
    assert not box.serves(new) and box.put('after close') is Put.CLOSED
    assert box.take(new, timeout=0) is None


def test_close_and_wake_release_a_waiting_take():
    box: Mailbox[str] = Mailbox()
    gen = box.begin()
    results: list[object] = []

    def taker() -> None:
        results.append(box.take(gen))
        results.append(box.serves(gen))

    t = threading.Thread(target=taker)
    t.start()
    box.wake()
    t.join(WAIT)
    assert results == [None, True]                           # woken: still serving
    results.clear()
    t = threading.Thread(target=taker)
    t.start()
    box.close()
    t.join(WAIT)
    assert not t.is_alive() and results == [None, False]     # closed: stop


# ---------------------------------------------------------------- the worker
def test_worker_processes_the_newest_frame_and_drops_the_waiting_ones(job, worker):
    worker.start()
    job.gate.clear()
    assert worker.mailbox.put(1) is Put.STORED
    assert job.started.wait(WAIT)                # busy with 1 (held by the gate)
    results = [worker.mailbox.put(i) for i in (2, 3, 4)]
    assert results == [Put.STORED, Put.REPLACED, Put.REPLACED]
    job.gate.set()
    assert job.wait_for('process', 4)
    assert job.of('process') == [1, 4] and worker.mailbox.dropped == 2
    assert job.wait_for('settle', count=2)       # after every item


def test_requests_are_served_before_the_next_frame_and_merged(job, worker):
    worker.start()
    job.gate.clear()
    worker.mailbox.put('a')
    assert job.started.wait(WAIT)
    worker.request(traversability=True)
    worker.request(model=True)
    worker.mailbox.put('b')
    job.gate.set()
    assert job.wait_for('process', 'b')
    kinds = [k for k, _ in job.events if k != 'settle']
    assert kinds == ['process', 'reload', 'process']
    assert job.of('reload') == [Requests(model=True, traversability=True)]
    worker.request(traversability=True)          # no frame needed: the worker wakes for it
    assert job.wait_for('reload', Requests(traversability=True))


def test_exceptions_are_reported_and_the_worker_keeps_serving(job, worker):
    job.raise_on = 'bad'
    job.reload_raises = True
    worker.start()
    worker.mailbox.put('bad')
    assert job.wait_for('failed', ('item bad', 'bad bad'))
    worker.request(model=True)
    assert job.wait_for('failed', ('', 'reload broke'))
    worker.mailbox.put('good')
    assert job.wait_for('process', 'good') and worker.alive


def test_watch_hooks_bracket_every_item_even_a_failing_one(job):
    watch = Watch()
    worker: Worker[object] = Worker(job, watch)
    job.raise_on = 'bad'
    worker.start()
    try:
        worker.mailbox.put('bad')
        assert job.wait_for('settle')
        worker.mailbox.put('good')
        assert job.wait_for('settle', count=2)
    finally:
        assert worker.stop(WAIT)
    assert watch.calls == [('begin', 'item bad'), ('end', ''), ('begin', 'item good'), ('end', '')]


def test_stop_refuses_frames_and_start_begins_without_old_requests(job, worker):
    worker.start()
    assert worker.alive
    assert worker.stop(WAIT) and not worker.alive
    assert worker.mailbox.put('late') is Put.CLOSED
    worker.request(model=True)                   # while stopped: start() forgets it
    worker.start()
    worker.mailbox.put('fresh')
    assert job.wait_for('process', 'fresh')
    assert job.of('reload') == [] and job.of('process') == ['fresh']


def test_bounded_stop_of_a_stuck_worker_and_one_worker_after_restart(job, worker):
    worker.start()
    job.gate.clear()
    worker.mailbox.put('stuck')
    assert job.started.wait(WAIT)
    assert not worker.stop(timeout=0.05)         # bounded: it says the thread still runs
    assert worker.alive
    worker.start()                               # a new generation while the old one is stuck
    job.gate.set()                               # the old thread returns from its item ...
    assert job.wait_for('process', 'stuck')
    worker.mailbox.put('next')
    assert job.wait_for('process', 'next')
    worker.mailbox.put('again')
    assert job.wait_for('process', 'again')
    # ... and stops serving: no item is taken twice or by two threads in parallel.
    assert job.of('process') == ['stuck', 'next', 'again']
    for thread in threading.enumerate():      # the old one ends once it sees the new one
        if thread.name == 'test_worker' and thread is not worker._thread:
            thread.join(WAIT)
    assert [t for t in threading.enumerate() if t.name == 'test_worker'] == [worker._thread]


def test_a_stopped_thread_knows_its_item_is_no_longer_wanted(job, worker):
    """The job asks serving() before publishing: an item taken before a stop stays unpublished."""
    seen: list[tuple[object, bool]] = []
    process = job.process

    def process_and_ask(item: object) -> None:
        process(item)
        seen.append((item, worker.serving()))

    job.process = process_and_ask
    assert not worker.serving()                  # not a worker thread at all
    worker.start()
    worker.mailbox.put('live')
    assert job.wait_for('process', 'live')
    assert job.wait_for('settle')
    job.gate.clear()
    job.started.clear()
    worker.mailbox.put('taken before the stop')
    assert job.started.wait(WAIT)
    assert not worker.stop(timeout=0.05)
    worker.start()                               # even after a restart it stays unwanted
    job.gate.set()
    assert job.wait_for('process', 'taken before the stop')
    worker.mailbox.put('after')
    assert job.wait_for('process', 'after')
    assert job.wait_for('settle', count=3)
    assert seen == [('live', True), ('taken before the stop', False), ('after', True)]


# ---------------------------------------------------------------- the pipeline
class Head(Recorder):
    """The inference stage: records the item and hands ``<item>+`` to the tail (None: nothing)."""

    def process(self, item: object) -> Optional[str]:   # type: ignore[override]
        super().process(item)
        return None if item == 'nothing' else f'{item}+'


class Tail(Recorder):
    """The publishing stage: two outputs per item, like labels then grid."""

    def process(self, item: object) -> None:
        self.started.set()
        assert self.gate.wait(WAIT)
        self._add('labels', item)
        self._add('grid', item)


@pytest.fixture
def stages():
    head, tail = Head(), Tail()
    drops: list[int] = []
    head_watch, tail_watch = Watch(), Watch()
    pipe: Pipeline[object, str] = Pipeline(head, tail, head_watch, tail_watch,
                                           on_tail_drop=lambda: drops.append(1),
                                           names=('test_head', 'test_tail'))
    yield pipe, head, tail, drops, head_watch, tail_watch
    head.gate.set()
    tail.gate.set()
    assert pipe.stop(WAIT)


def test_pipeline_tail_takes_the_newest_result_and_counts_the_skipped_ones(stages):
    pipe, head, tail, drops, _, _ = stages
    pipe.start()
    tail.gate.clear()
    assert pipe.put(1) is Put.STORED
    assert tail.started.wait(WAIT)                # the tail is busy with 1+ ...
    for i in (2, 3, 4):                           # ... while inference goes on: not held up
        assert pipe.put(i) is Put.STORED
        assert head.wait_for('process', i)
    assert head.wait_for('settle', count=4)       # each result handed over
    assert pipe.dropped == (0, 2) and len(drops) == 2     # 2+ and 3+ replaced before the tail
    tail.gate.set()
    assert tail.wait_for('grid', '4+')
    assert tail.of('labels') == ['1+', '4+']


def test_pipeline_head_keeps_the_newest_frame_while_busy(stages):
    pipe, head, tail, drops, _, _ = stages
    pipe.start()
    head.gate.clear()
    pipe.put('a')
    assert head.started.wait(WAIT)
    assert [pipe.put(x) for x in 'bcd'] == [Put.STORED, Put.REPLACED, Put.REPLACED]
    head.gate.set()
    assert tail.wait_for('grid', 'd+')
    assert head.of('process') == ['a', 'd'] and pipe.dropped[0] == 2
    assert tail.of('labels')[-1] == 'd+'          # (a+ may be skipped if d+ came first)


def test_pipeline_keeps_the_order_of_frames_and_of_outputs_per_frame(stages):
    pipe, head, tail, _, _, _ = stages
    pipe.start()
    for i in range(20):                           # one at a time: nothing is dropped
        pipe.put(i)
        assert tail.wait_for('grid', f'{i}+')
    pipe.put('nothing')                           # no result: nothing reaches the tail
    assert head.wait_for('process', 'nothing')
    outputs = [(k, v) for k, v in tail.events if k in ('labels', 'grid')]
    assert outputs == [(k, f'{i}+') for i in range(20) for k in ('labels', 'grid')]
    assert head.threads == {'test_head'} and tail.threads == {'test_tail'}


def test_pipeline_watch_hooks_per_stage(stages):
    pipe, head, tail, _, head_watch, tail_watch = stages
    pipe.start()
    tail.gate.clear()
    pipe.put('x')
    assert tail.started.wait(WAIT)                # the tail is on x+: its watch says so ...
    assert head.wait_for('settle')                # ... while the head is done with x
    assert head_watch.calls == [('begin', 'item x'), ('end', '')]
    assert tail_watch.calls == [('begin', 'item x+')]
    tail.gate.set()
    assert tail.wait_for('settle')
    assert tail_watch.calls == [('begin', 'item x+'), ('end', '')]


def test_pipeline_requests_go_to_the_head(stages):
    pipe, head, tail, _, _, _ = stages
    pipe.start()
    pipe.request(model=True)
    assert head.wait_for('reload', Requests(model=True))
    assert tail.of('reload') == []


def test_pipeline_stop_ends_both_threads_and_refuses_frames(stages):
    pipe, head, tail, _, _, _ = stages
    pipe.start()
    pipe.put(1)
    assert tail.wait_for('grid', '1+')
    assert pipe.alive and pipe.stop(WAIT)
    assert not pipe.alive and not pipe.any_alive and not pipe.is_open
    assert pipe.put(2) is Put.CLOSED
    assert [t for t in threading.enumerate() if t.name in ('test_head', 'test_tail')] == []


def test_pipeline_bounded_stop_and_no_stale_result_after_restart(stages):
    pipe, head, tail, _, _, _ = stages
    pipe.start()
    head.gate.clear()
    pipe.put('old')
    assert head.started.wait(WAIT)                # inference stuck in a frame
    assert not pipe.stop(timeout=0.05)            # bounded; says a thread still runs
    assert pipe.any_alive and not pipe.is_open
    pipe.start()                                  # a transition while the old head is stuck
    head.gate.set()                               # the old head finishes its stale frame ...
    assert head.wait_for('process', 'old') and head.wait_for('settle')   # old+ handed on
    pipe.put('new')
    assert tail.wait_for('grid', 'new+')
    assert tail.of('labels') == ['new+']          # ... and it never reaches the new tail


def test_pipeline_stop_interrupts_a_stage_that_overruns_then_gives_up_in_time(stages):
    """
    Stop waits ``timeout``, says so once (``overdue``), then asks the runtime to give up.

    The interrupt here opens the gate, as ONNX Runtime's terminate flag ends a run: both
    threads end within the grace. A runtime that ignores it (TensorRT) leaves stop False after
    the grace, so the node keeps the model loaded instead of closing it under the run.
    """
    pipe, head, tail, _, _, _ = stages
    pipe.start()
    head.gate.clear()
    pipe.put('long')
    assert head.started.wait(WAIT)
    overdue: list[int] = []
    interrupts: list[int] = []

    def ignored() -> None:
        interrupts.append(1)

    t0 = time.monotonic()
    assert not pipe.stop(0.05, interrupt=ignored, grace=0.3, overdue=lambda: overdue.append(1))
    assert 0.3 <= time.monotonic() - t0 < WAIT and pipe.any_alive
    assert overdue == [1] and len(interrupts) >= 2      # asked again while it waits
    assert pipe.stop(0.05, interrupt=head.gate.set, grace=WAIT)
    assert not pipe.any_alive
    assert tail.of('labels') == []                      # the interrupted frame went nowhere


class _NiceProbe:
    """A stage that records its thread's nice value (Linux: per thread) and passes items on."""

    def __init__(self) -> None:
        self.nice: list[int] = []
        self.done = threading.Event()

    def describe(self, item: object) -> str:
        return str(item)

    def reload(self, requests: object) -> None:
        pass

    def process(self, item: object) -> object:
        self.nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        self.done.set()
        return item

    def failed(self, what: str, exc: Exception) -> None:
        raise AssertionError(f'{what}: {exc}')

    def settle(self) -> None:
        pass


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='per-thread nice is Linux')
def test_pipeline_tail_runs_at_a_lower_priority_than_the_head():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    head, tail = _NiceProbe(), _NiceProbe()
    pipe: Pipeline[object, object] = Pipeline(head, tail, tail_niceness=7)
    pipe.start()
    try:
        pipe.put('frame')
        assert tail.done.wait(WAIT)
        # Only the tail thread moved: the head (inference) and this thread keep the priority.
        assert head.nice == [base] and tail.nice == [min(base + 7, 19)]
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    finally:
        assert pipe.stop(WAIT)
