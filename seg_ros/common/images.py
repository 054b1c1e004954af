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
Image files and image sizes as every tool of the package reads them.

Replay, the TensorRT calibration, the benchmark and the evaluation all take "a folder of
frames": one list of suffixes and one reader here means a folder that works for one works for
all, and frames reach the model as the node would hand them over (contiguous uint8 RGB).
Every command line writes an image size the way camera resolutions are written, width first
(``640x480``); :func:`parse_size` is the one parser, so every option rejects a bad size with
the same message showing the expected form.
"""
from __future__ import annotations

import os
from pathlib import Path
import re
from typing import Union

import cv2
import numpy as np

PathLike = Union[str, 'os.PathLike[str]']

# What counts as a frame in an image folder (compared case-insensitively): what OpenCV reads.
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')
READ_ENCODINGS = ('rgb8', 'bgr8')

# ImageFileError.problem values, for callers that word the error for their own context.
MISSING, NOT_A_FOLDER, EMPTY, UNREADABLE, BAD_ENCODING = (
    'missing', 'not_a_folder', 'empty', 'unreadable', 'bad_encoding')


class ImageFileError(ValueError):
    """
    An image folder or file that cannot be used; the message names it and what to do.

    ``problem`` (one of the constants above) and ``path`` let a caller restate it in its own
    terms (e.g. "calibration folder ... holds no images") without parsing the text.
    """

    def __init__(self, message: str, problem: str, path: PathLike) -> None:
        super().__init__(message)
        self.problem = problem
        self.path = Path(path)


def is_image_file(path: Path) -> bool:
    """Return whether ``path`` is a file with one of :data:`IMAGE_SUFFIXES`."""
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def list_images(folder: PathLike) -> list[Path]:
    """
    Return the folder's image files in name order.

    Name order is the order a camera would have sent them (frame numbers), and it makes
    calibration and benchmarks repeatable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        if folder.exists():
            raise ImageFileError(f'image folder {folder} is a file, not a folder; give a folder '
                                 'of PNG/JPEG frames', NOT_A_FOLDER, folder)
        raise ImageFileError(f'image folder {folder} does not exist; give a folder of PNG/JPEG '
                             'frames', MISSING, folder)
    files = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not files:
        raise ImageFileError(f'no images in {folder} (looked for {", ".join(IMAGE_SUFFIXES)}); '
                             'put the frames there or point to another folder', EMPTY, folder)
    return files


def label_files(folder: Path, suffix: str = '') -> dict[str, Path]:
    """
    Map each label PNG of ``folder`` to its frame's stem (``suffix`` stripped, e.g. ``_L``).

    Label maps pair with frames by stem, so evaluation and training agree on which label
    belongs to which frame; PNGs without the suffix are not labels.
    """
    labels: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() != '.png' or not p.is_file():
            continue
        stem = p.stem
        if suffix:
            if not stem.endswith(suffix):
                continue
            stem = stem[:-len(suffix)]
        labels[stem] = p
    return labels


def read_image(path: PathLike, encoding: str = 'rgb8') -> np.ndarray:
    """Return an image file as contiguous ``(H, W, 3)`` uint8 in ``encoding`` (rgb8 or bgr8)."""
    if encoding not in READ_ENCODINGS:
        raise ImageFileError(f'encoding {encoding!r} is not supported; use rgb8 or bgr8',
                             BAD_ENCODING, path)
    bgr = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageFileError(f'cannot read image {path}: not an image file or damaged; '
                             'remove it from the folder', UNREADABLE, path)
    return bgr if encoding == 'bgr8' else np.ascontiguousarray(bgr[:, :, ::-1])


def parse_size(text: str, option: str = '') -> tuple[int, int]:
    """
    Parse a command-line image size ``WIDTHxHEIGHT`` (e.g. ``640x480``) into (width, height).

    ``option`` (e.g. ``--opt``) starts the error message, so it names what to fix.
    """
    m = re.fullmatch(r'\s*(\d+)\s*[xX]\s*(\d+)\s*', text)
    if not m or min(int(m.group(1)), int(m.group(2))) < 1:
        where = f'{option} {text}' if option else f'size "{text}"'
        raise ValueError(f'{where}: expected WIDTHxHEIGHT (positive whole numbers), '
                         'e.g. 640x480')
    return int(m.group(1)), int(m.group(2))


def format_size(width: int, height: int) -> str:
    """Write a size as the command line takes it: ``WIDTHxHEIGHT``."""
    return f'{width}x{height}'
