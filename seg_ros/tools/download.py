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

"""``seg-ros download NAME... [--demo-frames DIR]``: fill the cache before going offline."""
from __future__ import annotations

import argparse
import sys

from seg_ros import zoo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command line."""
    parser.add_argument('names', nargs='*', metavar='NAME',
                        help=f'zoo models whose weights to fetch ({", ".join(zoo.names())}, '
                        'or "all")')
    parser.add_argument('--demo-frames', metavar='DIR',
                        help='also put the CamVid demo frames into DIR')
    parser.add_argument('--labels', action='store_true',
                        help='with --demo-frames: also their label maps (DIR/labels/)')


def run(args: argparse.Namespace) -> int:
    """Resolve (and if needed download) each weights file; print where it is."""
    names = args.names
    if names == ['all']:  # entries without a published sha256 are never downloaded
        names = [n for n in zoo.names() if zoo.get(n).sha256]
        for name in sorted(set(zoo.names()) - set(names)):
            print(f'{name}: skipped, no published sha256; download {zoo.get(name).url} '
                  'yourself and pass it to "seg-ros export" with --weights')
    if not names and not args.demo_frames:
        print('error: name at least one model (or "all") or --demo-frames DIR', file=sys.stderr)
        return 2
    try:
        for name in names:
            print(f'{name}: {zoo.resolve_weights(name)}')
        if args.demo_frames:
            frames = zoo.fetch_demo_frames(args.demo_frames, labels=args.labels)
            print(f'{len(frames)} demo frames in {args.demo_frames}')
    except zoo.ZooError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0
