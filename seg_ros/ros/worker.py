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
The worker: one thread fed by a one-slot :class:`Mailbox`, serving reload requests first.

The executor thread must never wait for inference, so a frame is only *put* into the mailbox;
a newer frame replaces one the worker has not started yet, and that replacement is counted as
a drop. Latency therefore stays bounded by one inference however fast frames come.

A mailbox serves one *generation* of its consumer at a time (:meth:`Mailbox.begin`) and is
closed when it stops: a closed mailbox refuses frames and holds none, and a thread of an older
generation stops serving when a new one begins. So a frame never outlives a stop/start (a
lifecycle transition), and at most one thread serves a mailbox at a time even when an old one
is still stuck in a runtime.

:class:`Worker` owns the thread's life explicitly (:meth:`Worker.start`, :meth:`Worker.stop`
with a bounded wait, :attr:`Worker.alive`) and its requests (reload the model, or only the
traversability built on it), which it serves before the next frame. It calls a
:class:`Job` for the work itself and a :class:`Watch` (the node's watchdog) around each item.

:class:`Pipeline` puts two workers in a row (the node's inference, then its publishing), the
second fed through its own one-slot mailbox with the same rule: a result not yet taken is
replaced by a newer one and counted. So inference never waits for publishing, and neither
stage queues. No ROS imports: unit-tested directly (``test/test_worker.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
import enum
import os
import threading
import time
from typing import Callable, Generic, Optional, Protocol, TypeVar

T = TypeVar('T')
T_contra = TypeVar('T_contra', contravariant=True)
U = TypeVar('U')
U_co = TypeVar('U_co', covariant=True)


class Put(enum.Enum):
    """What :meth:`Mailbox.put` did with an item."""

    STORED = 'stored'        # the slot was empty
    REPLACED = 'replaced'    # an item not yet taken was dropped for this one
    CLOSED = 'closed'        # nobody serves the mailbox (or not that generation): refused


class Mailbox(Generic[T]):
    """A one-slot hand-off from producers to one consumer, counting the items it drops."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Optional[T] = None
        self._full = False
        self._open = False
        self._woken = False
        self._generation = 0
        self._dropped = 0

    @property
    def generation(self) -> int:
        """Return the generation of the current (or last) consumer."""
        return self._generation

    @property
    def is_open(self) -> bool:
        """Return whether a consumer serves the mailbox (items are accepted)."""
        return self._open

    @property
    def dropped(self) -> int:
        """Return how many items were replaced before they were taken."""
        return self._dropped

    def begin(self) -> int:
        """Start a new generation, empty: items put before it are never taken by it."""
        with self._cond:
            self._generation += 1
            self._open = True
            self._item, self._full, self._woken = None, False, False
            self._cond.notify_all()
            return self._generation

    def close(self) -> None:
        """Refuse items from now on, drop the one waiting and wake the consumer to stop."""
        with self._cond:
            self._open = False
            self._item, self._full = None, False
            self._cond.notify_all()

    def serves(self, generation: int) -> bool:
        """Whether a consumer of ``generation`` should go on taking items."""
        return self._open and generation == self._generation

    def put(self, item: T, generation: Optional[int] = None) -> Put:
        """
        Store ``item``, replacing (and counting) one not taken yet; refused when closed.

        With ``generation``, an item meant for another generation than the current one (made
        before a stop/start) is refused too: a stale item never reaches the new consumer.
        """
        with self._cond:
            if not self._open or (generation is not None and generation != self._generation):
                return Put.CLOSED
            replaced = self._full
            if replaced:
                self._dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()
            return Put.REPLACED if replaced else Put.STORED

    def wake(self) -> None:
        """Make the consumer's :meth:`take` return now, item or not (it has a request)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def take(self, generation: int, timeout: Optional[float] = None) -> Optional[T]:
        """
        Wait for an item and return it; None when woken, closed, superseded or timed out.

        The caller checks :meth:`serves` after a None to tell "stop" from "look at requests".
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.serves(generation) and not self._full and not self._woken:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            self._woken = False
            if not self.serves(generation) or not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item


@dataclass(frozen=True)
class Requests:
    """What the worker must rebuild before its next item."""

    model: bool = False            # reload the model (and what is built on it)
    traversability: bool = False   # rebuild the taxonomy and grid only

    def __bool__(self) -> bool:
        return self.model or self.traversability


class Job(Protocol[T_contra]):
    """The work a :class:`Worker` does; each method runs on the worker thread."""

    def describe(self, item: T_contra) -> str:
        """Name the item in messages (the watchdog's "on <what>")."""

    def reload(self, requests: Requests) -> None:
        """Serve a request (before the next item)."""

    def process(self, item: T_contra) -> None:
        """Do the item's work (an exception is passed to :meth:`failed`)."""

    def failed(self, what: str, exc: Exception) -> None:
        """Report an exception of :meth:`reload` (``what`` empty) or of ``process(what)``."""

    def settle(self) -> None:
        """Tidy up after each item, once the worker holds no reference to it."""


class Watch(Protocol):
    """The watchdog hooks (``seg_ros.ros.health.Watchdog``): the item the worker is on."""

    def begin(self, what: str, now: float) -> None:
        """Note that the worker took ``what`` at ``now`` (monotonic seconds)."""

    def end(self) -> None:
        """Note that the worker is done with it, whatever the outcome."""


class Worker(Generic[T]):
    """One thread serving a :class:`Mailbox` for a :class:`Job`; no exception ends it."""

    def __init__(self, job: Job[T], watch: Optional[Watch] = None,
                 name: str = 'seg_ros_worker', niceness: int = 0) -> None:
        self.mailbox: Mailbox[T] = Mailbox()
        self._job = job
        self._niceness = niceness
        self._watch = watch
        self._name = name
        self._lock = threading.Lock()
        self._model = self._traversability = False
        self._thread: Optional[threading.Thread] = None
        self._local = threading.local()   # the generation a worker thread serves

    @property
    def alive(self) -> bool:
        """Return whether a thread runs (serving, or stuck in an item after :meth:`stop`)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def serving(self) -> bool:
        """
        Whether the calling thread serves the current generation: its results are still wanted.

        A thread that was stopped (or superseded) while on an item finishes it without knowing;
        the job asks this before it publishes, so a frame taken before a stop never comes out
        after it, not even after a restart.
        """
        generation = getattr(self._local, 'generation', None)
        return generation is not None and self.mailbox.serves(generation)

    def start(self) -> int:
        """Open a new generation (no request, no item pending), start its thread; return it."""
        with self._lock:
            self._model = self._traversability = False
        generation = self.mailbox.begin()
        self._thread = threading.Thread(target=self._run, args=(generation,), name=self._name,
                                        daemon=True)
        self._thread.start()
        return generation

    def stop(self, timeout: float = 10.0) -> bool:
        """Close the mailbox and wait up to ``timeout`` s for the thread; True once it ended."""
        self.mailbox.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)
            if not thread.is_alive():
                self._thread = None
        return not self.alive

    def request(self, model: bool = False, traversability: bool = False) -> None:
        """Ask for a rebuild before the next item; the worker wakes for it."""
        with self._lock:
            self._model |= model
            self._traversability |= traversability
        self.mailbox.wake()

    def _take_requests(self) -> Requests:
        with self._lock:
            requests = Requests(self._model, self._traversability)
            self._model = self._traversability = False
        return requests

    def _run(self, generation: int) -> None:
        """Serve requests, then the newest item, until the mailbox stops serving this thread."""
        job, watch, mailbox = self._job, self._watch, self.mailbox
        self._local.generation = generation
        if self._niceness:
            _lower_priority(self._niceness)
        while True:
            item = mailbox.take(generation)
            if item is None and not mailbox.serves(generation):
                return   # stopped, or a newer generation took over
            requests = self._take_requests()
            if requests:
                try:
                    job.reload(requests)
                except Exception as exc:  # noqa: B902 - CUDA, RecursionError, a newer runtime
                    job.failed('', exc)
            if item is None:
                continue
            what = job.describe(item)
            if watch is not None:
                watch.begin(what, time.monotonic())
            try:
                job.process(item)
            except Exception as exc:  # noqa: B902 - keep serving items whatever happens
                job.failed(what, exc)
            finally:
                if watch is not None:
                    watch.end()
            del item
            job.settle()


def _lower_priority(niceness: int) -> None:
    """Raise the calling thread's nice value (Linux schedules threads one by one)."""
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
    except (AttributeError, OSError):
        pass   # not Linux, or not allowed: the thread keeps the process's priority


class Stage(Protocol[T_contra, U_co]):
    """The head of a :class:`Pipeline`: a :class:`Job` whose ``process`` returns a result."""

    def describe(self, item: T_contra) -> str:
        """Name the item in messages."""

    def reload(self, requests: Requests) -> None:
        """Serve a request (before the next item)."""

    def process(self, item: T_contra) -> Optional[U_co]:
        """Do the item's work; the result (if not None) goes to the tail."""

    def failed(self, what: str, exc: Exception) -> None:
        """Report an exception of :meth:`reload` or :meth:`process`."""

    def settle(self) -> None:
        """Tidy up after each item."""


@dataclass(frozen=True)
class _Envelope(Generic[T]):
    """An item for the head, with the tail generation it was put for."""

    tail_generation: int
    item: T


class _Forward(Generic[T, U]):
    """The head worker's job: the head stage, then its result into the tail's mailbox."""

    def __init__(self, stage: Stage[T, U], tail: Mailbox[U],
                 on_tail_drop: Optional[Callable[[], None]]) -> None:
        self._stage = stage
        self._tail = tail
        self._on_tail_drop = on_tail_drop

    def describe(self, envelope: _Envelope[T]) -> str:
        return self._stage.describe(envelope.item)

    def reload(self, requests: Requests) -> None:
        self._stage.reload(requests)

    def process(self, envelope: _Envelope[T]) -> None:
        result = self._stage.process(envelope.item)
        if result is None:
            return
        # The generation the frame was put for: a head thread that outlived a stop/start (stuck
        # in a runtime) cannot hand a stale result to the new tail.
        if (self._tail.put(result, envelope.tail_generation) is Put.REPLACED
                and self._on_tail_drop is not None):
            self._on_tail_drop()

    def failed(self, what: str, exc: Exception) -> None:
        self._stage.failed(what, exc)

    def settle(self) -> None:
        self._stage.settle()


class Pipeline(Generic[T, U]):
    """
    Two workers in a row, so the head (inference) never waits for the tail (publishing).

    ``tail_niceness`` lowers the tail thread's scheduling priority (Linux nice, per thread), so
    where the CPU has no free core the head's inference comes first and the tail takes what is
    left; the one-slot hand-off means a starved tail skips frames instead of queueing them.

    The head worker serves the requests and runs the :class:`Stage` on the newest item of its
    mailbox; its result goes into the tail worker's one-slot mailbox, where a result the tail
    has not started yet is replaced by a newer one and counted (``on_tail_drop``), exactly as
    the head's mailbox does with frames. Each worker calls its own :class:`Watch`. The results
    reach the tail in the order the head made them, and the tail does each result's work in
    one go, so the outputs of a frame keep their order.

    Life cycle, explicit and bounded: :meth:`start` opens a new generation of both mailboxes
    (tail first) and starts both threads; :meth:`stop` closes both mailboxes, then waits for
    both threads with one shared deadline. Every item carries the tail generation it was put
    for, so a head thread that was still stuck in an item across a stop/start cannot hand its
    stale result to the new tail.
    """

    def __init__(self, head: Stage[T, U], tail: Job[U], head_watch: Optional[Watch] = None,
                 tail_watch: Optional[Watch] = None,
                 on_tail_drop: Optional[Callable[[], None]] = None,
                 names: tuple[str, str] = ('seg_ros_inference', 'seg_ros_tail'),
                 tail_niceness: int = 0) -> None:
        self.tail: Worker[U] = Worker(tail, tail_watch, name=names[1], niceness=tail_niceness)
        self.head: Worker[_Envelope[T]] = Worker(
            _Forward(head, self.tail.mailbox, on_tail_drop), head_watch, name=names[0])
        self._tail_generation = 0

    @property
    def is_open(self) -> bool:
        """Return whether items are accepted (between :meth:`start` and :meth:`stop`)."""
        return self.head.mailbox.is_open

    @property
    def alive(self) -> bool:
        """Return whether both threads run."""
        return self.head.alive and self.tail.alive

    @property
    def any_alive(self) -> bool:
        """Return whether either thread still runs (after a :meth:`stop` that timed out)."""
        return self.head.alive or self.tail.alive

    @property
    def dropped(self) -> tuple[int, int]:
        """Return the items dropped before the head and before the tail."""
        return self.head.mailbox.dropped, self.tail.mailbox.dropped

    def put(self, item: T) -> Put:
        """Hand ``item`` to the head (replacing, and counting, one it has not started)."""
        return self.head.mailbox.put(_Envelope(self._tail_generation, item))

    def request(self, model: bool = False, traversability: bool = False) -> None:
        """Ask the head for a rebuild before its next item."""
        self.head.request(model=model, traversability=traversability)

    def start(self) -> None:
        """Start the tail, then the head, each in a new generation (nothing pending)."""
        self._tail_generation = self.tail.start()
        self.head.start()

    def stop(self, timeout: float = 10.0, interrupt: Optional[Callable[[], object]] = None,
             grace: float = 0.0, overdue: Optional[Callable[[], None]] = None) -> bool:
        """
        Close both mailboxes and wait up to ``timeout`` s in all; True once both ended.

        A stage still on its item then (a long inference) is told so (``overdue``) and asked to
        give up through ``interrupt`` (the runtime's terminate flag), for up to ``grace`` s more.
        False means a thread is still in a runtime that could not be interrupted: whatever it
        uses (the model) must stay alive, since freeing it under a running call aborts.
        """
        deadline = time.monotonic() + timeout
        self.head.mailbox.close()
        self.tail.mailbox.close()
        if self._join(deadline) or interrupt is None:
            return not self.any_alive
        if overdue is not None:
            overdue()
        deadline = time.monotonic() + grace
        while True:
            interrupt()
            if self._join(min(deadline, time.monotonic() + 0.1)) or time.monotonic() >= deadline:
                return not self.any_alive

    def _join(self, deadline: float) -> bool:
        head = self.head.stop(max(0.0, deadline - time.monotonic()))
        tail = self.tail.stop(max(0.0, deadline - time.monotonic()))
        return head and tail
