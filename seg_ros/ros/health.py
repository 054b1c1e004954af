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
The node's self-checks behind /diagnostics: the worker watchdog, input-topic presence, QoS.

These are the failures where a node runs and publishes nothing while looking healthy: a worker
thread that died or hangs, a camera that is not there or not reaching us, and a QoS pair that
DDS refuses to connect. :class:`Watchdog` and :class:`InputMonitor` are plain logic on
monotonic seconds (unit-tested without ROS); :class:`QosMonitor` registers rclpy's
incompatible-QoS event callbacks on every endpoint and re-checks the peers on each
diagnostics tick, so its entry clears when the mismatched peer goes away or is fixed.
"""
from __future__ import annotations

from dataclasses import dataclass
import threading
from typing import Any, Callable, Optional

from rclpy.duration import Duration, Infinite
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.qos import (DurabilityPolicy, LivelinessPolicy, QoSPolicyKind, ReliabilityPolicy)

Report = Callable[[str, int, str], None]   # (kind, level, message), as NodeStats.report
Clear = Callable[[str], None]

SHM_HINT = ('with the shipped Fast DDS profile, a frame larger than its 32 MB shared-memory '
            'segment (config/fastdds_shm.xml; an rgb8 4000x3000 frame is 36 MB) goes over UDP '
            'instead, where a best-effort frame that loses one fragment is lost without a word '
            'on either side; see doc/diagnostics.md')


class Watchdog:
    """
    Tracks the item each worker stage is on; a dead worker or a stage stuck too long is an error.

    Each stage (the node's inference and publishing workers) gets its own hooks from
    :meth:`stage`: the worker calls ``begin`` when it takes an item and ``end`` when it is done
    with it (whatever the outcome); the diagnostics timer calls :meth:`check`, which names the
    stage that is stuck. :meth:`begin` and :meth:`end` are the hooks of the stage "worker".
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[str, tuple[str, float]] = {}

    def stage(self, name: str) -> 'StageWatch':
        """Return the begin/end hooks of stage ``name``."""
        return StageWatch(self, name)

    def begin(self, what: str, now: float, stage: str = 'worker') -> None:
        with self._lock:
            self._busy[stage] = (what, now)

    def end(self, stage: str = 'worker') -> None:
        with self._lock:
            self._busy.pop(stage, None)

    def check(self, now: float, alive: bool, timeout_s: float) -> Optional[str]:
        """Return an ERROR message, or None when the workers are alive and keeping up."""
        if not alive:
            return ('a worker thread is not running: no frame will be processed; restart the '
                    'node and report the traceback in its log')
        with self._lock:
            busy = sorted(self._busy.items(), key=lambda kv: kv[1][1])   # the oldest first
        for stage, (what, since) in busy:
            if now - since > timeout_s:
                name = 'the worker' if stage == 'worker' else f'the {stage} worker'
                return (f'{name} has been on {what} for {now - since:.1f} s (bound '
                        f'{timeout_s} s, watchdog.timeout): inference or the grid hangs or is '
                        'far too slow for this input; check the model, the device and the '
                        'frame size')
        return None


@dataclass(frozen=True)
class StageWatch:
    """The watchdog hooks of one stage (``seg_ros.ros.worker.Watch``)."""

    watchdog: Watchdog
    name: str

    def begin(self, what: str, now: float) -> None:
        self.watchdog.begin(what, now, self.name)

    def end(self) -> None:
        self.watchdog.end(self.name)


@dataclass
class InputMonitor:
    """Decides "no publisher" / "publisher present but no frames" for the input topic."""

    topic: str
    timeout_s: float
    started: float
    _no_publisher_since: Optional[float] = None
    _publisher_since: Optional[float] = None

    def check(self, now: float, publishers: int, last_input: Optional[float],
              shm_profile: bool = False) -> Optional[str]:
        """Return a WARN message, or None while frames arrive (or it is too early to say)."""
        if publishers == 0:
            self._publisher_since = None
            if self._no_publisher_since is None:
                self._no_publisher_since = self.started if last_input is None else now
            silent = now - self._no_publisher_since
            if silent >= self.timeout_s:
                return (f'no publisher on {self.topic} for {silent:.0f} s: check that the '
                        f'camera driver runs, that "image" is remapped to its topic (ros2 topic '
                        'list) and that both use the same ROS_DOMAIN_ID')
            return None
        self._no_publisher_since = None
        if self._publisher_since is None:
            self._publisher_since = now
        since = max(self._publisher_since, last_input or self._publisher_since)
        if now - since >= self.timeout_s:
            what = 'no frames' if last_input is None else 'no new frames'
            hint = f'; {SHM_HINT}' if shm_profile else ''
            return (f'publisher present on {self.topic} ({publishers}) but {what} for '
                    f'{now - since:.0f} s: check that the camera streams (ros2 topic hz), its '
                    f'QoS against ours (ros2 topic info -v){hint}')
        return None


def describe_qos(profile: Any, history: bool = True) -> str:
    """
    Return one line of the policies that decide compatibility, for the diagnostics messages.

    A remote endpoint's history and depth are not announced by DDS (they read "unknown, 0"),
    so they are left out for peers.
    """
    def name(policy: Any) -> str:
        return getattr(policy, 'name', str(policy)).lower()

    text = f'reliability {name(profile.reliability)}, durability {name(profile.durability)}'
    return text + (f', history {name(profile.history)} depth {profile.depth}' if history else '')


def _peer_name(info: Any) -> str:
    """Return "/ns/node" of an endpoint, or "" when discovery has not told its node yet."""
    if info.node_name.startswith('_NODE_NAME_UNKNOWN_'):
        return ''
    return f'{info.node_namespace.rstrip("/")}/{info.node_name}'


def qos_fix(ours_is_publisher: bool, policy: str, topic: str) -> str:
    """Say what to change, for the policy DDS reported as incompatible."""
    if policy == 'RELIABILITY':
        return ('the publisher is best_effort and the subscriber asks for reliable: make the '
                'subscriber best_effort' + (' (its QoS setting)' if ours_is_publisher
                                            else ' (set qos.reliability: best_effort)')
                + ' or the publisher reliable')
    if policy == 'DURABILITY':
        return ('the subscriber asks for transient_local (latched) but the publisher is '
                f'volatile: subscribe to {topic} with durability volatile (e.g. ros2 topic echo '
                '--qos-durability volatile)')
    return (f'make the {"subscriber" if ours_is_publisher else "publisher"}\'s {policy.lower()} '
            'policy match the other side')


def _finite(duration: Duration) -> bool:
    """Whether a QoS duration is set: 0 (the default) and Infinite both mean "none"."""
    return 0 < duration.nanoseconds < Infinite.nanoseconds


def incompatible_policies(pub: Any, sub: Any) -> list[str]:
    """
    Return the policies for which DDS refuses to match ``pub`` with ``sub`` (empty: they match).

    rclpy's ``qos_check_compatible`` is not usable on profiles read from the graph: a peer's
    unset deadline and liveliness lease come back as "Infinite" and ours as 0, and it reports
    "Subscription has a deadline, but publisher does not" for every ordinary subscriber. Only
    the request-offered rules are checked here, with unset and infinite durations alike.
    """
    bad = []
    if (pub.reliability == ReliabilityPolicy.BEST_EFFORT
            and sub.reliability == ReliabilityPolicy.RELIABLE):
        bad.append('RELIABILITY')
    if (pub.durability == DurabilityPolicy.VOLATILE
            and sub.durability == DurabilityPolicy.TRANSIENT_LOCAL):
        bad.append('DURABILITY')
    if _finite(sub.deadline) and (not _finite(pub.deadline)
                                  or pub.deadline.nanoseconds > sub.deadline.nanoseconds):
        bad.append('DEADLINE')
    if (sub.liveliness == LivelinessPolicy.MANUAL_BY_TOPIC
            and pub.liveliness == LivelinessPolicy.AUTOMATIC):
        bad.append('LIVELINESS')
    elif _finite(sub.liveliness_lease_duration) and (
            not _finite(pub.liveliness_lease_duration)
            or pub.liveliness_lease_duration.nanoseconds
            > sub.liveliness_lease_duration.nanoseconds):
        bad.append('LIVELINESS')
    return bad


class QosMonitor:
    """Incompatible-QoS events of every endpoint of one node, reported as ERROR per topic."""

    def __init__(self, node: Any, report: Report, clear: Clear, error_level: int) -> None:
        self._node = node
        self._report = report
        self._clear = clear
        self._level = error_level
        self._lock = threading.Lock()
        self._active: dict[str, tuple[bool, Any]] = {}   # topic -> (we publish, our QoS)

    def subscription(self, topic: str, qos: Any) -> SubscriptionEventCallbacks:
        """Event callbacks for a subscription on ``topic`` (a name the node resolves)."""
        topic = self._node.resolve_topic_name(topic)
        return SubscriptionEventCallbacks(
            incompatible_qos=lambda event: self._on_event(topic, qos, False, event))

    def publisher(self, topic: str, qos: Any) -> PublisherEventCallbacks:
        """Event callbacks for a publisher on ``topic``."""
        topic = self._node.resolve_topic_name(topic)
        return PublisherEventCallbacks(
            incompatible_qos=lambda event: self._on_event(topic, qos, True, event))

    def _peers(self, topic: str, ours_is_publisher: bool) -> list[Any]:
        node = self._node
        return (node.get_subscriptions_info_by_topic(topic) if ours_is_publisher
                else node.get_publishers_info_by_topic(topic))

    def _incompatible(self, topic: str, qos: Any, ours_is_publisher: bool) -> list[Any]:
        bad = []
        for peer in self._peers(topic, ours_is_publisher):
            pub, sub = (qos, peer.qos_profile) if ours_is_publisher else (peer.qos_profile, qos)
            if incompatible_policies(pub, sub):
                bad.append(peer)
        return bad

    def _on_event(self, topic: str, qos: Any, ours_is_publisher: bool, event: Any) -> None:
        try:
            policy = QoSPolicyKind(event.last_policy_kind).name
        except ValueError:
            policy = str(event.last_policy_kind)
        peers = self._incompatible(topic, qos, ours_is_publisher)
        other = 'subscriber' if ours_is_publisher else 'publisher'
        theirs = '; '.join(' '.join(filter(None, [_peer_name(p), describe_qos(
            p.qos_profile, history=False)])) for p in peers) or 'its settings not known'
        message = (f'QoS mismatch on {topic} ({policy.lower()}): our '
                   f'{"publisher" if ours_is_publisher else "subscription"} has '
                   f'{describe_qos(qos)}; the {other} ({theirs}) cannot connect, so no messages '
                   f'flow between them. Fix: {qos_fix(ours_is_publisher, policy, topic)}')
        with self._lock:
            self._active[topic] = (ours_is_publisher, qos)
        self._report(self._kind(topic), self._level, message)

    @staticmethod
    def _kind(topic: str) -> str:
        return f'qos {topic}'

    def recheck(self) -> None:
        """Clear the entries whose incompatible peers are gone (from the diagnostics timer)."""
        with self._lock:
            active = dict(self._active)
        for topic, (ours_is_publisher, qos) in active.items():
            if not self._incompatible(topic, qos, ours_is_publisher):
                with self._lock:
                    self._active.pop(topic, None)
                self._clear(self._kind(topic))
