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
Where the zoo's weights and demo frames come from: shared assets, the user cache, a download.

Weights are looked up, in order, in ``$SEG_ROS_ASSETS/models/`` (default ``../shared`` next to
the repository), in the user cache (``$XDG_CACHE_HOME/seg_ros/models`` or
``~/.cache/seg_ros/models``), and finally downloaded from the entry's public URL into the cache.
Every file is checked against the entry's sha256 before use, so a truncated download or a file
of the same name from elsewhere is an error rather than a silently wrong model.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
import shutil
from typing import Optional, Sequence
import urllib.error
import urllib.request

from seg_ros.common.files import atomic_output, sha256_file
from seg_ros.common.share import assets_dir
from seg_ros.zoo.datasets.camvid import DEMO_FRAMES, DemoFrame
from seg_ros.zoo.registry import get, ZooEntry, ZooError


def cache_dir() -> Path:
    """Return the user cache: ``$XDG_CACHE_HOME/seg_ros`` or ``~/.cache/seg_ros``."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'seg_ros'


def _check_sha(path: Path, expected: str, what: str, fix: str) -> Path:
    got = sha256_file(path)
    if got != expected:
        raise ZooError(f'{path} is not the expected {what}: sha256 {got}, expected {expected}. '
                       f'{fix}')
    return path


def download(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> Path:
    """
    Download ``url`` to ``dest`` via a temporary file, verified, then renamed into place.

    The rename is atomic, so a concurrent reader never sees a half-written file and an
    interrupted download leaves nothing behind.
    """
    dest = Path(dest)
    h = hashlib.sha256()
    with atomic_output(dest) as (out, _):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(1 << 20), b''):
                    h.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason: object = getattr(exc, 'reason', None) or exc
            if isinstance(exc, urllib.error.HTTPError):
                reason = f'HTTP {exc.code} {exc.reason}'
            raise ZooError(f'download of {url} failed ({reason}); download it by hand and '
                           f'put it at {dest}') from exc
        got = h.hexdigest()
        if got != sha256:
            raise ZooError(f'download of {url} has sha256 {got}, expected {sha256}: the file '
                           'at that URL changed or the transfer was corrupted; nothing was '
                           f'saved. Retry, or put the right file at {dest} by hand')
    return dest


def resolve_weights(entry: ZooEntry | str, weights: Optional[str] = None,
                    allow_download: bool = True) -> Path:
    """
    Return a local, verified path to ``entry``'s weights, downloading them if needed.

    ``weights`` names a file explicitly (fine-tuned weights, say): it is used as is, without
    the sha256 check, since it is by definition not the zoo's file.
    """
    if isinstance(entry, str):
        entry = get(entry)
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise ZooError(f'weights file not found: {path}')
        return path
    if not entry.sha256:
        raise ZooError(f'{entry.name}: its weights have no published sha256 to verify a '
                       f'download against; download them from {entry.url} yourself and pass '
                       'the file with --weights PATH')
    fix = ('Delete or replace it; "seg-ros download {n}" fetches the right one from {u}'
           .format(n=entry.name, u=entry.url))
    assets = assets_dir()
    if assets is not None:
        candidate = assets / 'models' / entry.weights_file
        if candidate.is_file():
            return _check_sha(candidate, entry.sha256, f'{entry.name} weights', fix)
    cached = cache_dir() / 'models' / entry.weights_file
    if cached.is_file():
        return _check_sha(cached, entry.sha256, f'{entry.name} weights', fix)
    if not allow_download:
        raise ZooError(f'weights for {entry.name} not found in $SEG_ROS_ASSETS/models/ nor '
                       f'{cached.parent}; run "seg-ros download {entry.name}"')
    try:
        return download(entry.url, cached, entry.sha256)
    except ZooError as exc:
        raise ZooError(f'{entry.name} weights not found in $SEG_ROS_ASSETS/models/ nor '
                       f'{cached.parent}, and {exc}') from exc


def fetch_demo_frames(dest: os.PathLike | str, labels: bool = False,
                      frames: Sequence[DemoFrame] = DEMO_FRAMES) -> list[Path]:
    """
    Put the demo frames (and label maps into ``dest/labels`` if ``labels``) into ``dest``.

    Files already there with the right sha256 are kept; missing ones are copied from
    ``$SEG_ROS_ASSETS/data/camvid`` when present, else downloaded. Returns the frame paths.
    """
    dest = Path(dest)
    assets = assets_dir()
    local = assets / 'data' / 'camvid' if assets is not None else None
    out = []
    for frame in frames:
        todo = [(dest / frame.name, frame.sha256, frame.url, 'val')]
        if labels:
            todo.append((dest / 'labels' / frame.name, frame.label_sha256, frame.label_url,
                         'valannot'))
        for path, sha, url, sub in todo:
            if path.is_file() and sha256_file(path) == sha:
                continue
            source = local / sub / frame.name if local is not None else None
            if source is not None and source.is_file() and sha256_file(source) == sha:
                with atomic_output(path) as (f, _), open(source, 'rb') as src:
                    shutil.copyfileobj(src, f)
            else:
                download(url, path, sha)
        out.append(dest / frame.name)
    return out
