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
TensorRT engine bookkeeping that needs no TensorRT: cache keys, sidecars, staleness, errors.

A serialized engine only runs on the TensorRT version and GPU model that built it, and it keeps
no trace of the ONNX it came from nor of the seg_ros metadata (classes, palette). Every engine
therefore gets a JSON sidecar (``NAME.engine.json``) recording the platform, the build settings,
the sha256 of the ONNX and of the engine itself, and the model's ``seg_ros.*`` metadata. From it
the node decides whether a cached engine can be reused, and a mismatched engine fails with the
exact command that rebuilds it instead of TensorRT's deserialisation error.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
import datetime
import hashlib
import json
import os
import shlex
from typing import Any, Mapping, Optional, Sequence

from seg_ros.common import images
from seg_ros.common.files import atomic_write, sha256_file

SIDECAR_FORMAT = 1
SIDECAR_SUFFIX = '.json'
PRECISIONS = ('fp32', 'fp16', 'int8')
# Input sizes (height, width) of the default optimisation profile: stored height first like the
# image arrays and the sidecar, written width first (WxH) wherever a user reads or types them
# (:func:`cli_size`). The graph resizes the frame to the network size first, so only the input
# copy and the final upsampling scale with these; 1920x1080 (WxH) keeps the largest buffers
# TensorRT reserves (full-size logits) modest on a Jetson.
DEFAULT_MIN = (120, 160)
DEFAULT_OPT = (480, 640)
DEFAULT_MAX = (1080, 1920)


class EngineCacheError(RuntimeError):
    """An engine that cannot be used here; the message says why and how to rebuild it."""


@dataclass(frozen=True)
class Platform:
    """
    What an engine is tied to: the TensorRT version and the GPU that built it.

    Name and compute capability alone are the same on every Orin module ("Orin", 8.7); the
    multiprocessor count and the memory tell AGX Orin, Orin NX and Orin Nano apart, so an
    engine tuned on one is rebuilt on another instead of reused.
    """

    tensorrt_version: str
    gpu_name: str
    compute_capability: str              # 'major.minor', e.g. '8.7' for Jetson Orin
    multiprocessors: int = 0             # SMs: AGX Orin 16 (32 GB: 14), NX 8, Nano 8 (4 GB: 4)
    memory_gib: int = 0                  # total device memory in GiB, rounded (see memory_gib)


def memory_gib(total_bytes: int) -> int:
    """
    Round a device's total memory to whole GiB for the cache key.

    A Jetson reports the RAM it shares with the CPU less the kernel's carve-outs (an 8 GB Orin
    Nano says about 7.4 GiB), which can move by megabytes between JetPack releases; whole GiB
    still tell the 4/8/16/32/64 GB modules apart without rebuilding for such a change.
    """
    return int(round(int(total_bytes) / 2 ** 30))


@dataclass(frozen=True)
class BuildSettings:
    """How to build an engine; the fields that change the engine are part of the cache key."""

    precision: str = 'fp16'              # fp32 | fp16 | int8
    min_hw: tuple[int, int] = DEFAULT_MIN
    opt_hw: tuple[int, int] = DEFAULT_OPT
    max_hw: tuple[int, int] = DEFAULT_MAX
    workspace_mb: int = 0                # 0 = TensorRT's default (the whole device memory)
    dla_core: int = -1                   # -1 = GPU only; 0/1 = that Orin DLA core, GPU fallback
    calib_dir: str = ''                  # image folder for implicit INT8 calibration (TRT 10)
    timing_cache: str = ''               # file reused across builds to skip tactic timing
    calib_limit: int = 0                 # use the first N calibration frames (0 = all)
    calib_digest: str = ''               # calibration_digest() of those frames (cache key)
    typed: bool = False                  # the ONNX carries its own types (export --precision)

    def validate(self) -> None:
        """Raise ValueError naming the bad setting, before minutes of building are spent."""
        if self.precision not in PRECISIONS:
            raise ValueError(f'precision "{self.precision}" is not one of {", ".join(PRECISIONS)}')
        for label, hw in (('min', self.min_hw), ('opt', self.opt_hw), ('max', self.max_hw)):
            if len(hw) != 2 or min(hw) < 1:
                raise ValueError(f'--{label} {_show(hw)} must be a positive WIDTHxHEIGHT size')
        if not all(a <= b <= c for a, b, c in zip(self.min_hw, self.opt_hw, self.max_hw)):
            raise ValueError(
                f'optimisation profile must satisfy min <= opt <= max in height and width, got '
                f'min {cli_size(self.min_hw)}, opt {cli_size(self.opt_hw)}, '
                f'max {cli_size(self.max_hw)} (WxH)')
        if self.precision == 'int8' and not self.typed and not self.calib_dir:
            raise ValueError('INT8 from a float ONNX needs calibration images: pass --calib DIR '
                             '(frames like the robot sees, e.g. ../shared/data/camvid/calib), '
                             'or better export a Q/DQ model: seg-ros export NAME --precision '
                             'int8 --calib DIR (the only INT8 path on TensorRT 11)')
        if self.workspace_mb < 0:
            raise ValueError(f'--workspace must be >= 0 MB, got {self.workspace_mb}')
        if self.calib_limit < 0:
            raise ValueError(f'--calib-count must be >= 0 (0 = all), got {self.calib_limit}')
        if self.dla_core >= 0 and self.precision == 'fp32':
            raise ValueError('DLA runs only FP16 or INT8: add --fp16 or --int8 (or build from '
                             'an fp16/int8 export) to use --dla')
        if self.dla_core >= 0 and not self.min_hw == self.opt_hw == self.max_hw:
            raise ValueError(
                'DLA needs static shapes: set --min, --opt and --max to the same size (the '
                f'camera size, e.g. {cli_size(self.opt_hw)}); got min {cli_size(self.min_hw)}, '
                f'opt {cli_size(self.opt_hw)}, max {cli_size(self.max_hw)}')

    def key(self) -> dict[str, Any]:
        """Return the settings that make two engines different (not workspace/timing cache)."""
        key: dict[str, Any] = {'precision': self.precision, 'min': list(self.min_hw),
                               'opt': list(self.opt_hw), 'max': list(self.max_hw),
                               'dla_core': self.dla_core}
        if self.precision == 'int8' and not self.typed:
            # Implicit INT8: the scales depend on which frames calibrated it.
            key['calibration'] = self.calib_digest or 'unknown'
        return key


def calibration_digest(files: Sequence[str]) -> str:
    """
    Hash the calibration frames an implicit INT8 build uses: their count, names and contents.

    Part of the engine's cache key, so adding, removing, replacing or re-counting frames
    rebuilds the engine instead of reusing scales calibrated on other images.
    """
    h = hashlib.sha256(f'{len(files)}\n'.encode())
    for path in files:
        h.update(os.path.basename(path).encode() + b'\0')
        h.update(bytes.fromhex(sha256_file(path)))
    return h.hexdigest()[:16]


def calibration_cache_key(onnx_sha256: str, calib_digest: str) -> dict[str, str]:
    """Return what a TensorRT calibration cache is valid for (written beside it as JSON)."""
    return {'onnx_sha256': onnx_sha256, 'calibration': calib_digest}


def read_calibration_cache(path: str, onnx_sha256: str, calib_digest: str) -> Optional[bytes]:
    """
    Return the calibration cache at ``path`` if it was made from this ONNX and these frames.

    TensorRT's cache holds per-tensor scales by tensor name; read against another graph or other
    frames it silently gives wrong scales. Its key file (``PATH.json``) decides; a cache
    without one (or with another key) is ignored, and the build calibrates afresh.
    """
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path + SIDECAR_SUFFIX, encoding='utf-8') as f:
            key = json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if key != calibration_cache_key(onnx_sha256, calib_digest):
        return None
    with open(path, 'rb') as f:
        return f.read()


def write_calibration_cache(path: str, data: bytes, onnx_sha256: str, calib_digest: str) -> None:
    """Write a calibration cache and its key file (key last: a torn write is just stale)."""
    atomic_write(path, data)
    atomic_write(path + SIDECAR_SUFFIX, json.dumps(
        calibration_cache_key(onnx_sha256, calib_digest), sort_keys=True).encode())


def parse_hw(text: str, option: str = '') -> tuple[int, int]:
    """Parse a command-line size (``WIDTHxHEIGHT``, as every option takes it) into (h, w)."""
    width, height = images.parse_size(text, option)
    return height, width


def cli_size(hw: Any) -> str:
    """Write a (height, width) pair as the command line takes it: ``WIDTHxHEIGHT``."""
    height, width = hw
    return images.format_size(width, height)


def sidecar_path(engine_path: str) -> str:
    """Return where the sidecar of ``engine_path`` lives."""
    return engine_path + SIDECAR_SUFFIX


def engine_path_for(onnx_path: str, settings: BuildSettings, cache_dir: str = '') -> str:
    """
    Return the cached engine's path for an ONNX: ``<dir>/<stem>.<precision>[.dlaN].engine``.

    Precision and DLA core are in the name so that an FP16 and an INT8 engine of one model can
    both stay cached; everything else that must match lives in the sidecar and a mismatch
    rebuilds the engine in place.
    """
    stem = os.path.splitext(os.path.basename(onnx_path))[0]
    dla = f'.dla{settings.dla_core}' if settings.dla_core >= 0 else ''
    folder = cache_dir or os.path.dirname(os.path.abspath(onnx_path))
    return os.path.join(folder, f'{stem}.{settings.precision}{dla}.engine')


def make_sidecar(onnx_path: str, onnx_sha256: str, engine_sha256: str, platform: Platform,
                 settings: BuildSettings, metadata: Mapping[str, str],
                 built_at: Optional[str] = None) -> dict[str, Any]:
    """Return the sidecar of a freshly built engine."""
    return {
        'seg_ros_engine': SIDECAR_FORMAT,
        'onnx_path': os.path.abspath(onnx_path),
        'onnx_sha256': onnx_sha256,
        'engine_sha256': engine_sha256,
        **asdict(platform),
        **settings.key(),
        'workspace_mb': settings.workspace_mb,
        'calib_dir': os.path.abspath(settings.calib_dir) if settings.calib_dir else '',
        'calib_limit': settings.calib_limit,
        'typed': settings.typed,
        'built_at': built_at or datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec='seconds'),
        'metadata': dict(metadata),
    }


def write_sidecar(engine_path: str, sidecar: Mapping[str, Any]) -> str:
    """Write the sidecar atomically (a concurrent reader sees the old one or the new one)."""
    path = sidecar_path(engine_path)
    atomic_write(path, (json.dumps(sidecar, indent=2, sort_keys=True) + '\n').encode())
    return path


def read_sidecar(engine_path: str) -> dict[str, Any]:
    """Read and sanity-check a sidecar; EngineCacheError says what is missing or broken."""
    path = sidecar_path(engine_path)
    try:
        with open(path, encoding='utf-8') as f:
            sidecar = json.load(f)
    except FileNotFoundError:
        raise EngineCacheError(f'{path} not found') from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EngineCacheError(f'{path} is unreadable ({exc})') from exc
    required = ('seg_ros_engine', 'tensorrt_version', 'gpu_name', 'compute_capability',
                'precision', 'min', 'opt', 'max', 'metadata', 'engine_sha256')
    missing = [k for k in required if not isinstance(sidecar, dict) or k not in sidecar]
    if missing:
        raise EngineCacheError(f'{path} lacks {", ".join(missing)}')
    if sidecar['seg_ros_engine'] != SIDECAR_FORMAT:
        raise EngineCacheError(f'{path} has sidecar format {sidecar["seg_ros_engine"]}, this '
                               f'seg_ros writes format {SIDECAR_FORMAT}')
    return sidecar


def settings_from_sidecar(sidecar: Mapping[str, Any]) -> BuildSettings:
    """Return the settings an engine was built with (for its rebuild command)."""
    return BuildSettings(
        precision=str(sidecar.get('precision', 'fp16')),
        min_hw=_hw(sidecar.get('min'), DEFAULT_MIN), opt_hw=_hw(sidecar.get('opt'), DEFAULT_OPT),
        max_hw=_hw(sidecar.get('max'), DEFAULT_MAX),
        workspace_mb=int(sidecar.get('workspace_mb', 0)),
        dla_core=int(sidecar.get('dla_core', -1)), calib_dir=str(sidecar.get('calib_dir', '')),
        calib_limit=int(sidecar.get('calib_limit', 0)),
        calib_digest=str(sidecar.get('calibration', '')), typed=bool(sidecar.get('typed')))


def _hw(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    try:
        h, w = value
        return int(h), int(w)
    except (TypeError, ValueError):
        return default


def platform_mismatches(sidecar: Mapping[str, Any], platform: Platform) -> list[str]:
    """Return how the engine's platform differs from this one ('' fields never match)."""
    labels = (('tensorrt_version', 'TensorRT'), ('gpu_name', 'GPU'),
              ('compute_capability', 'compute capability'),
              ('multiprocessors', 'multiprocessors'), ('memory_gib', 'GiB of GPU memory'))
    out = []
    for key, label in labels:
        built, here = str(sidecar.get(key, '')), str(getattr(platform, key))
        if built != here:
            out.append(f'{label} {built or "?"} (engine) vs {here} (here)')
    return out


def stale_reasons(engine_path: str, onnx_sha256: str, platform: Platform,
                  settings: BuildSettings, engine_sha256: Optional[str] = None) -> list[str]:
    """
    Return why the cached engine at ``engine_path`` cannot serve this ONNX; empty = reuse it.

    ``engine_sha256`` is the hash of the engine file as it is now (None: hash it here), so an
    engine overwritten by hand without its sidecar is caught too.
    """
    if not os.path.isfile(engine_path):
        return [f'no engine at {engine_path} yet']
    try:
        sidecar = read_sidecar(engine_path)
    except EngineCacheError as exc:
        return [str(exc)]
    reasons = []
    if sidecar.get('onnx_sha256') != onnx_sha256:
        reasons.append('the ONNX file changed since the engine was built (sha256 '
                       f'{str(sidecar.get("onnx_sha256"))[:12]} -> {onnx_sha256[:12]})')
    reasons += platform_mismatches(sidecar, platform)
    wanted = settings.key()
    for key, value in wanted.items():
        if sidecar.get(key) != value:
            reasons.append(f'{key} {_show(sidecar.get(key))} (engine) vs {_show(value)} (wanted)')
    if engine_sha256 is None:
        engine_sha256 = sha256_file(engine_path)
    if sidecar.get('engine_sha256') != engine_sha256:
        reasons.append('the engine file does not match its sidecar (replaced by hand?)')
    return reasons


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return cli_size(value) if len(value) == 2 else 'x'.join(str(v) for v in value)
    return str(value)


def rebuild_command(engine_path: str, sidecar: Optional[Mapping[str, Any]] = None,
                    onnx_path: str = '') -> str:
    """Return the ``seg-ros build-engine`` line that rebuilds ``engine_path`` on this machine."""
    settings = settings_from_sidecar(sidecar) if sidecar else BuildSettings()
    onnx = onnx_path or (str(sidecar.get('onnx_path', '')) if sidecar else '') or 'MODEL.onnx'
    return build_command(onnx, engine_path, settings)


def build_command(onnx_path: str, engine_path: str, settings: BuildSettings) -> str:
    """Return the ``seg-ros build-engine`` command line for these settings."""
    args = ['seg-ros', 'build-engine', onnx_path, '-o', engine_path]
    if not settings.typed:   # a typed ONNX brings its own precision
        args.append(f'--{settings.precision}')
    if settings.precision == 'int8' and not settings.typed:
        args += ['--calib', settings.calib_dir or 'CALIB_DIR']
        if settings.calib_limit:
            args += ['--calib-count', str(settings.calib_limit)]
    args += ['--min', cli_size(settings.min_hw), '--opt', cli_size(settings.opt_hw),
             '--max', cli_size(settings.max_hw)]
    if settings.workspace_mb:
        args += ['--workspace', str(settings.workspace_mb)]
    if settings.dla_core >= 0:
        args += ['--dla', str(settings.dla_core)]
    return shlex.join(args)


def check_engine(engine_path: str, platform: Platform,
                 engine_sha256: Optional[str] = None) -> dict[str, Any]:
    """
    Return the sidecar of an engine given directly, or raise EngineCacheError saying why not.

    TensorRT's own message for a foreign engine ("Serialization assertion ... failed") names
    neither the cause nor the fix; this one names the platform difference and the command.
    """
    try:
        sidecar = read_sidecar(engine_path)
    except EngineCacheError as exc:
        raise EngineCacheError(
            f'{engine_path} cannot be used: {exc}. seg_ros needs the sidecar written by '
            '"seg-ros build-engine" (it holds the class names and the platform the engine was '
            f'built for). Rebuild on this machine with: {rebuild_command(engine_path)}') from exc
    problems = platform_mismatches(sidecar, platform)
    if engine_sha256 is None:
        engine_sha256 = sha256_file(engine_path)
    if sidecar['engine_sha256'] != engine_sha256:
        problems.append('the engine file does not match its sidecar (replaced or truncated)')
    if problems:
        raise EngineCacheError(mismatch_message(engine_path, sidecar, problems))
    return sidecar


def mismatch_message(engine_path: str, sidecar: Mapping[str, Any], problems: list[str]) -> str:
    """Return the error for an engine built elsewhere: what differs, why, and the fix."""
    return (f'TensorRT engine {engine_path} was not built for this machine: '
            f'{"; ".join(problems)}. Engines only run on the TensorRT version and GPU model '
            'that built them, so build it here (on the robot) from the ONNX. Rebuild with: '
            f'{rebuild_command(engine_path, sidecar)} (or set model_path to the .onnx with '
            'backend: tensorrt and the node builds and caches it)')


def profile_error(height: int, width: int, sidecar: Mapping[str, Any],
                  engine_path: str = 'the engine') -> Optional[str]:
    """Return why a frame size is outside the engine's optimisation profile, or None."""
    lo = _hw(sidecar.get('min'), DEFAULT_MIN)
    hi = _hw(sidecar.get('max'), DEFAULT_MAX)
    if lo[0] <= height <= hi[0] and lo[1] <= width <= hi[1]:
        return None
    settings = settings_from_sidecar(sidecar)
    if settings.dla_core >= 0:   # DLA engines are static: rebuild for exactly this size
        lo_hw = hi_hw = (height, width)
    else:
        lo_hw = (min(lo[0], height), min(lo[1], width))
        hi_hw = (max(hi[0], height), max(hi[1], width))
    settings = dataclasses.replace(settings, min_hw=lo_hw, opt_hw=(height, width), max_hw=hi_hw)
    onnx = str(sidecar.get('onnx_path', '')) or 'MODEL.onnx'
    return (f'frame {images.format_size(width, height)} (WxH) is outside the optimisation '
            f'profile of {engine_path} (min {cli_size(lo)}, max {cli_size(hi)}); rebuild it for '
            f'this camera with: {build_command(onnx, engine_path, settings)}')
