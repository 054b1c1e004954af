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
``seg-ros replay SOURCE``: play a rosbag2 or an image folder as camera topics, record outputs.

SOURCE is a rosbag2 folder, a bare ``.mcap`` / ``.db3`` file, or a folder of images (each
becomes ``image`` + ``camera_info``, stamped when sent). Pacing: the bag's recorded timing
(default for bags, ``--speed`` to scale it), ``--rate HZ`` (default for folders, 10 Hz),
``--as-fast-as-node`` (send the next frame when the node's labels for this one arrive) or
``--as-fast-as-possible``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
import sys
from typing import Any, Iterable, Optional

from seg_ros.offline import replay
from seg_ros.offline.replay import ReplayError
from seg_ros.ros import dds_env

DEFAULT_FOLDER_RATE = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('source', help='rosbag2 folder, .mcap or .db3 file, or image folder')
    src = parser.add_argument_group('what to play')
    src.add_argument('--topics', nargs='+', metavar='TOPIC',
                     help='bag: play only these topics (default: all)')
    src.add_argument('--image-topic', default=None,
                     help='bag: the image topic that paces playback (default: the only '
                          'Image or CompressedImage topic); folder: where to publish '
                          '(default: image)')
    src.add_argument('--info-topic', default='camera_info',
                     help='folder: CameraInfo topic ("" = none; default: camera_info)')
    src.add_argument('--remap', action='append', default=[], metavar='FROM:=TO',
                     help='bag: publish topic FROM as TO (repeatable)')
    src.add_argument('--encoding', choices=['rgb8', 'bgr8'], default='rgb8',
                     help='folder: Image encoding (default rgb8)')
    src.add_argument('--frame-id', default='camera',
                     help='folder: header.frame_id (default camera)')
    src.add_argument('--camera-info', metavar='YAML',
                     help='folder: calibration in the ROS camera_calibration YAML format')
    src.add_argument('--hfov', type=float, default=replay.DEFAULT_HFOV_DEG,
                     help='folder without --camera-info: horizontal FOV of the guessed pinhole '
                          f'(default {replay.DEFAULT_HFOV_DEG:g} deg)')
    pace = parser.add_argument_group('pacing').add_mutually_exclusive_group()
    pace.add_argument('--rate', type=float, metavar='HZ',
                      help=f'frames per second (default for folders {DEFAULT_FOLDER_RATE:g}; '
                           'bags: recorded timing)')
    pace.add_argument('--speed', type=float, metavar='X',
                      help='bag: recorded timing scaled by X (default 1 for bags)')
    pace.add_argument('--as-fast-as-node', action='store_true',
                      help='send the next frame when the node answered this one')
    pace.add_argument('--as-fast-as-possible', action='store_true',
                      help='no pacing at all')
    parser.add_argument('--reply-topic', default='segmentation/labels',
                        help='topic whose stamps answer frames (ages, --as-fast-as-node)')
    parser.add_argument('--reply-timeout', type=float, default=5.0, metavar='S',
                        help='--as-fast-as-node: give up on a frame after S s (default 5)')
    parser.add_argument('--loop', action='store_true', help='start over at the end')
    parser.add_argument('--limit', type=int, metavar='N', help='stop after N frames')
    parser.add_argument('--wait', type=float, default=10.0, metavar='S',
                        help='wait up to S s for a subscriber on the image topic (default 10)')
    parser.add_argument('--no-wait', action='store_true', help='start without a subscriber')
    rec = parser.add_argument_group('recording')
    rec.add_argument('--record', action='append', default=[], metavar='TOPIC[:TYPE]',
                     help="topic to record (repeatable; default: the node's outputs)")
    rec.add_argument('--record-bag', metavar='PATH', help='write recorded topics to this bag')
    rec.add_argument('--storage', choices=replay.STORAGES, default='mcap',
                     help='bag storage plugin (default mcap)')
    rec.add_argument('--record-images', metavar='DIR',
                     help='save recorded Image / OccupancyGrid messages as DIR/<topic>/NNNN.png')
    rec.add_argument('--drain', type=float, default=2.0, metavar='S',
                     help='after the last frame, record until outputs stop for S s '
                          '(default 2)')
    parser.add_argument('--summary', metavar='JSON', help='also write the summary here')


def is_bag(path: Path) -> bool:
    """Return whether ``path`` is a rosbag2 (folder with metadata.yaml, .mcap or .db3)."""
    if path.is_dir():
        return (path / 'metadata.yaml').is_file()
    return path.suffix in ('.mcap', '.db3')


def _parse_record(specs: list[str], known: dict[str, str]) -> dict[str, Optional[str]]:
    out: dict[str, Optional[str]] = {}
    for spec in specs:
        topic, _, msgtype = spec.partition(':')
        out[topic] = msgtype or known.get(topic) or known.get(topic.lstrip('/'))
    return out


def _remapped(items: Iterable[Any], remap: dict[str, str]) -> Iterable[Any]:
    for item in items:
        item.topic = remap.get(item.topic, item.topic)
        yield item


def run(args: argparse.Namespace) -> int:
    # Same host, big images: the SHM profile unless the user chose one. The domain is the
    # user's: replay talks to their node.
    key = dds_env.profile_variable()
    if key not in os.environ:
        os.environ[key] = str(dds_env.shm_profile_path())
    try:
        return _run(args)
    except ReplayError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from seg_ros.ros import player
    source_path = Path(args.source)
    if not source_path.exists():
        raise ReplayError(f'{source_path} does not exist; give a rosbag2 folder, a .mcap or '
                          '.db3 file, or a folder of images')
    if args.limit is not None and args.limit < 1:
        raise ReplayError('--limit must be at least 1')
    remap = {}
    for spec in args.remap:
        old, sep, new = spec.partition(':=')
        if not sep or not old or not new:
            raise ReplayError(f'--remap {spec!r}: expected FROM:=TO')
        remap[old] = new

    bag = None
    known = dict(player.NODE_OUTPUTS)
    skipped: dict[str, str] = {}   # folder files that could not be read: path -> reason

    def skip(path: Path, why: str) -> None:
        if str(path) not in skipped:   # once, also with --loop
            print(f'replay: skipping {path}: {why}', file=sys.stderr, flush=True)
            skipped[str(path)] = why
    if is_bag(source_path):
        bag = replay.BagSource(source_path, args.topics, args.image_topic)
        known.update(bag.topics)
        if bag.image_topic is None:
            listing = ', '.join(f'{t} [{m}]' for t, m in sorted(bag.topics.items()))
            raise ReplayError(f'bag {source_path} has no Image or CompressedImage topic to '
                              f'pace by (topics played: {listing}); choose topics with --topics')
        image_topic = remap.get(bag.image_topic, bag.image_topic)
        if args.as_fast_as_possible or args.as_fast_as_node:
            pacer = replay.Pacer('asap')
        elif args.rate:
            pacer = replay.Pacer('rate', rate=args.rate)
        else:
            pacer = replay.Pacer('recorded', speed=args.speed or 1.0)

        def items() -> Iterable[Any]:
            return _remapped(player.bag_items(bag), remap)
        total = bag.image_count
    else:
        if args.speed:
            raise ReplayError('--speed needs recorded timing; an image folder has none: use '
                              '--rate')
        files = replay.list_images(source_path)
        camera = replay.load_camera_info_yaml(args.camera_info) if args.camera_info else None
        image_topic = args.image_topic or 'image'
        if args.as_fast_as_possible or args.as_fast_as_node:
            pacer = replay.Pacer('asap')
        else:
            pacer = replay.Pacer('rate', rate=args.rate or DEFAULT_FOLDER_RATE)

        def items() -> Iterable[Any]:
            return player.folder_items(files, args.encoding, args.frame_id, image_topic,
                                       args.info_topic or None, camera, args.hfov,
                                       on_skip=skip)
        total = len(files)

    if bag is not None:
        outgoing = [(remap.get(t, t), m) for t, m in bag.topics.items()]
    else:
        outgoing = player.folder_topics(image_topic, args.info_topic or None)
    known.update(outgoing)
    recording = bool(args.record_bag or args.record_images)
    record = _parse_record(args.record or (list(player.NODE_OUTPUTS) if recording else []),
                           known)
    # Leaving: the player first (nothing is recorded after it), then the files and the bag.
    written, player_closing = contextlib.ExitStack(), contextlib.ExitStack()
    if bag is not None:
        written.callback(bag.close)
    recorder = replay.BagRecorder(args.record_bag, args.storage) if args.record_bag else None
    if recorder is not None:
        written.callback(recorder.close)
    p = player.Player(recorder=recorder, reply_topic=args.reply_topic or None,
                      deserialize=bool(args.record_images))
    player_closing.callback(p.close)
    summary: dict[str, Any] = {}
    with written, player_closing:
        for topic, msgtype in record.items():
            msgtype = msgtype or p.discover_type(topic, 2.0)
            if msgtype is None:
                raise ReplayError(f'--record {topic}: nobody publishes it yet, so its type is '
                                  f'unknown; write it as {topic}:pkg/msg/Type')
            p.subscribe(topic, msgtype)
        if args.record_images:
            folders = {t: replay.topic_dirname(t) for t, m in record.items()
                       if m in (replay.IMAGE_TYPE, 'nav_msgs/msg/OccupancyGrid', None)}
            saver = player.ImageSaver(Path(args.record_images), folders, p.stats.index_of)
            written.callback(saver.close)
            p.hooks.append(saver)
        for topic, msgtype in outgoing:
            p.publisher(topic, msgtype)
        if not args.no_wait:
            p.wait_for_peer(image_topic, args.wait, 'replay: no subscriber on the image topic',
                            settle=0.5)
            # Companions (camera_info) usually match at the same moment; a short grace so
            # their first message is not lost, but they are optional for the subscriber.
            for topic, _ in outgoing:
                if topic != image_topic:
                    try:
                        p.wait_for_peer(topic, 1.0, 'replay')
                    except ReplayError:
                        pass
        print(f'replay: {source_path} ({total} frames) -> {p._full_name(image_topic)}',
              flush=True)
        reply_timeout = args.reply_timeout if args.as_fast_as_node else None
        sent = 0
        try:
            while True:
                sent += p.play(items(), pacer, reply_timeout=reply_timeout, limit=args.limit,
                               start_index=sent)
                if not args.loop or (args.limit is not None and sent >= args.limit):
                    break
                pacer.restart()
        except KeyboardInterrupt:
            print('replay: interrupted', file=sys.stderr)
        p.drain(idle=args.drain)
        summary = p.stats.summary()
        if args.reply_topic and not p.stats.replies and not p.reply_publishers():
            # Nobody publishes the replies (no node running): "all dropped" would mislead.
            summary['frames_answered'] = summary['frames_dropped'] = None
            summary['note'] = f'nothing publishes {args.reply_topic}; no frame ages measured'
    summary['recorded'] = dict(recorder.counts) if recorder is not None else {}
    if bag is None:
        summary['skipped_files'] = sorted(skipped)
    print(json.dumps(summary, indent=2))
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=2) + '\n')
    if args.record_bag:
        print(f'replay: outputs recorded in {args.record_bag}')
    if args.record_images:
        print(f'replay: images saved under {args.record_images}')
    if skipped:
        print(f'replay: skipped {len(skipped)} of {total} files that are not images or are '
              f'damaged: {", ".join(sorted(skipped))}', file=sys.stderr)
        if not summary.get('frames_sent'):
            print('error: no frame could be sent', file=sys.stderr)
            return 2
    return 0
