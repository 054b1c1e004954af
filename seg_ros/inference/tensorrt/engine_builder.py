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
Build a TensorRT 10 engine (plus its sidecar) from a seg_ros contract ONNX.

The contract puts resizing and normalisation inside the graph, so the network input is the raw
uint8 NHWC frame: the optimisation profile ranges over camera sizes, and INT8 calibration
feeds plain resized frames (no mean/std here). TensorRT and pycuda are imported only inside
the functions that need them, so this module (and its NumPy calibration loader) can be
imported and tested on machines without a GPU.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Any, Callable, Iterator, Optional, TYPE_CHECKING

import numpy as np

from seg_ros.common import images
from seg_ros.inference import contract
from seg_ros.inference.tensorrt import engine_cache
from seg_ros.inference.tensorrt import trt_compat

if TYPE_CHECKING:  # the stubs (tensorrt-stubs) type-check this module without TensorRT
    import tensorrt as trt

LOG = logging.getLogger('seg_ros.tensorrt')


class EngineBuildError(RuntimeError):
    """The engine could not be built; the message names the cause and what to change."""


def import_tensorrt() -> Any:
    """
    Return the real ``tensorrt`` module, or raise EngineBuildError saying how to get it.

    ``tensorrt-stubs`` installs an empty ``tensorrt`` namespace package, so a plain import
    succeeds on machines without TensorRT; ``Builder`` tells the real bindings apart.
    """
    try:
        import tensorrt
    except ImportError as exc:
        raise EngineBuildError(_NO_TRT) from exc
    if not hasattr(tensorrt, 'Builder'):
        raise EngineBuildError(_NO_TRT)
    return tensorrt


_NO_TRT = ("TensorRT's Python bindings"
           ' are not importable here (only type stubs or nothing). '
           'On a Jetson they come with JetPack 6.1+ (apt install python3-libnvinfer, then use '
           'the system Python or a venv made with --system-site-packages); on a PC install the '
           '"tensorrt" wheel from pypi.nvidia.com. Or use backend: onnxruntime.')


def _gpu_platform(trt_module: Any, device_id: int = 0) -> engine_cache.Platform:
    """Return this machine's TensorRT version and GPU (through pycuda, which needs no context)."""
    cuda = import_pycuda()
    cuda.init()
    device = cuda.Device(device_id)
    major, minor = device.compute_capability()
    return engine_cache.Platform(tensorrt_version=str(trt_module.__version__),
                                 gpu_name=str(device.name()),
                                 compute_capability=f'{major}.{minor}')


def current_platform(device_id: int = 0) -> engine_cache.Platform:
    """Return the platform an engine built here would be tied to."""
    return _gpu_platform(import_tensorrt(), device_id)


def import_pycuda() -> Any:
    """Return ``pycuda.driver`` or raise EngineBuildError with the install hint."""
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        raise EngineBuildError(
            'pycuda is not importable; on a Jetson: sudo apt install python3-dev and '
            'export PATH=/usr/local/cuda/bin:$PATH, then pip install pycuda') from exc
    return cuda


def list_images(folder: str) -> list[str]:
    """Return the image files of a calibration folder, sorted (so calibration is repeatable)."""
    try:
        return [str(p) for p in images.list_images(folder)]
    except images.ImageFileError as exc:
        if exc.problem == images.EMPTY:
            raise EngineBuildError(f'calibration folder {folder} holds no images '
                                   f'({", ".join(images.IMAGE_SUFFIXES)})') from None
        what = 'is a file' if exc.problem == images.NOT_A_FOLDER else 'does not exist'
        hint = ('pass --calib DIR with frames like the robot sees (e.g. '
                '../shared/data/camvid/calib)')
        raise EngineBuildError(f'calibration folder {folder} {what}; {hint}') from None


def calibration_batches(folder: str, hw: tuple[int, int],
                        limit: int = 0) -> Iterator[np.ndarray]:
    """
    Yield calibration inputs as the network receives frames: uint8 RGB ``(1, H, W, 3)``.

    Frames are resized to the profile's opt size, which is also the size the calibration
    profile uses; the graph itself does the network resize and normalisation.
    """
    import cv2

    files = list_images(folder)
    for path in files[:limit] if limit > 0 else files:
        try:
            rgb = images.read_image(path)
        except images.ImageFileError:
            raise EngineBuildError(f'{path}: not a readable image; remove it from the '
                                   'calibration folder') from None
        h, w = hw
        if rgb.shape[:2] != (h, w):
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        yield rgb[None]


def make_calibrator(trt_module: Any, batches: Iterator[np.ndarray], nbytes: int,
                    cache_file: str = '') -> Any:
    """
    Return an IInt8EntropyCalibrator2 feeding ``batches`` through one device buffer.

    The class is defined here because its base class exists only where TensorRT imports.
    """
    cuda = import_pycuda()

    class EntropyCalibrator(trt_module.IInt8EntropyCalibrator2):
        """Feeds one frame per batch; TensorRT asks until get_batch returns None."""

        def __init__(self) -> None:
            trt_module.IInt8EntropyCalibrator2.__init__(self)
            self.device = cuda.mem_alloc(nbytes)
            self.count = 0

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> Optional[list[int]]:
            batch = next(batches, None)
            if batch is None:
                return None
            cuda.memcpy_htod(self.device, batch)
            self.count += 1
            return [int(self.device)]

        def read_calibration_cache(self) -> Optional[bytes]:
            if cache_file and os.path.isfile(cache_file):
                with open(cache_file, 'rb') as f:
                    return f.read()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_file:
                engine_cache.atomic_write(cache_file, bytes(cache))

    return EntropyCalibrator()


def _parse(trt_module: Any, network: 'trt.INetworkDefinition', logger: 'trt.ILogger',
           onnx_path: str) -> 'trt.OnnxParser':
    parser: trt.OnnxParser = trt_module.OnnxParser(network, logger)
    if not parser.parse_from_file(os.path.abspath(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(
            f'TensorRT could not parse {onnx_path}:\n  ' + '\n  '.join(errors) +
            '\nCheck the graph without TensorRT: seg-ros build-engine --check ' + onnx_path)
    return parser


def build_engine(onnx_path: str, engine_path: str, settings: engine_cache.BuildSettings,
                 device_id: int = 0, calib_limit: int = 0, calib_cache: str = '',
                 log: Callable[[str], None] = LOG.info) -> dict[str, Any]:
    """
    Build ``engine_path`` from ``onnx_path`` and write its sidecar; return the sidecar.

    The ONNX is contract-checked first (a build takes minutes on a Jetson; a missing class
    table should not be found after it). The engine and sidecar are written atomically, engine
    first, so a reader never pairs a new sidecar with an old engine.
    """
    settings.validate()
    try:
        info = contract.check_onnx(onnx_path)
    except contract.ContractError as exc:
        raise EngineBuildError(str(exc)) from exc
    try:
        for problem in trt_compat.check_model(onnx_path):
            log(f'warning (TensorRT 10.0 parser table): {problem}')
    except FileNotFoundError:
        pass  # the table is a development aid; the parser below has the last word
    trt_module = import_tensorrt()
    platform = _gpu_platform(trt_module, device_id)
    # pycuda (the calibrator's buffer) needs a current context; the primary one is TensorRT's.
    context = import_pycuda().Device(device_id).retain_primary_context()
    context.push()
    try:
        return _build(trt_module, platform, onnx_path, engine_path, settings, info,
                      calib_limit, calib_cache, log)
    finally:
        context.pop()
        context.detach()


def _build(trt_module: Any, platform: engine_cache.Platform, onnx_path: str, engine_path: str,
           settings: engine_cache.BuildSettings, info: contract.ModelInfo, calib_limit: int,
           calib_cache: str, log: Callable[[str], None]) -> dict[str, Any]:
    onnx_sha = engine_cache.sha256_file(onnx_path)
    logger: trt.ILogger = trt_module.Logger(trt_module.Logger.WARNING)
    builder: trt.Builder = trt_module.Builder(logger)
    network = builder.create_network(0)   # TensorRT 10: explicit batch is the only mode
    # The parser owns the weights the network points to: it must outlive the build.
    parser = _parse(trt_module, network, logger, onnx_path)
    config = builder.create_builder_config()
    if settings.workspace_mb:
        config.set_memory_pool_limit(trt_module.MemoryPoolType.WORKSPACE,
                                     settings.workspace_mb << 20)
    profile = builder.create_optimization_profile()
    profile.set_shape(contract.INPUT, _dims(trt_module, settings.min_hw),
                      _dims(trt_module, settings.opt_hw), _dims(trt_module, settings.max_hw))
    config.add_optimization_profile(profile)
    if settings.precision in ('fp16', 'int8'):
        if not builder.platform_has_fast_fp16:
            log(f'warning: {platform.gpu_name} has no fast FP16; the engine may be slower')
        config.set_flag(trt_module.BuilderFlag.FP16)   # INT8 layers fall back to FP16
    if settings.precision == 'int8':
        config.set_flag(trt_module.BuilderFlag.INT8)
        calib_profile = builder.create_optimization_profile()
        opt = _dims(trt_module, settings.opt_hw)
        calib_profile.set_shape(contract.INPUT, opt, opt, opt)
        config.set_calibration_profile(calib_profile)
        batches = calibration_batches(settings.calib_dir, settings.opt_hw, calib_limit)
        # Held here until the build returns: the binding does not keep the Python object alive.
        calibrator = make_calibrator(trt_module, batches, int(np.prod(_nhwc(settings.opt_hw))),
                                     calib_cache)
        config.int8_calibrator = calibrator
    if settings.dla_core >= 0:
        if builder.num_DLA_cores <= settings.dla_core:
            raise EngineBuildError(
                f'--dla {settings.dla_core}: {platform.gpu_name} has {builder.num_DLA_cores} '
                'DLA core(s) (Jetson AGX Orin: 2, Orin NX: 1 or 2, Orin Nano: none); '
                'omit --dla to build for the GPU')
        config.default_device_type = trt_module.DeviceType.DLA
        config.DLA_core = settings.dla_core
        config.set_flag(trt_module.BuilderFlag.GPU_FALLBACK)
    timing = _load_timing_cache(config, settings.timing_cache, log)
    log(f'building {settings.precision} engine for {platform.gpu_name} (sm '
        f'{platform.compute_capability}, TensorRT {platform.tensorrt_version}) from '
        f'{onnx_path}; this takes minutes on a Jetson')
    start = time.monotonic()
    plan = builder.build_serialized_network(network, config)
    del parser
    if settings.precision == 'int8':
        log(f'calibrated on {calibrator.count} frames from {settings.calib_dir}')
    if plan is None:
        raise EngineBuildError(
            f'TensorRT failed to build {engine_path} (see its messages above); common causes: '
            'too small --workspace, layers unsupported at this precision or on the DLA')
    data = bytes(plan)
    if timing is not None:
        engine_cache.atomic_write(settings.timing_cache, bytes(timing.serialize()))
    engine_cache.atomic_write(engine_path, data)
    sidecar = engine_cache.make_sidecar(
        onnx_path, onnx_sha, hashlib.sha256(data).hexdigest(), platform, settings,
        {k: v for k, v in info.metadata.items() if k.startswith('seg_ros.')})
    engine_cache.write_sidecar(engine_path, sidecar)
    log(f'wrote {engine_path} ({len(data) / 1e6:.1f} MB) in {time.monotonic() - start:.0f} s')
    return sidecar


def _load_timing_cache(config: 'trt.IBuilderConfig', path: str,
                       log: Callable[[str], None]) -> Optional['trt.ITimingCache']:
    """Attach the timing cache at ``path`` (new when absent); None when none was asked for."""
    if not path:
        return None
    data = b''
    if os.path.isfile(path):
        with open(path, 'rb') as f:
            data = f.read()
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log(f'warning: timing cache {path} is from another TensorRT/GPU; starting a new one')
        cache = config.create_timing_cache(b'')
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def _nhwc(hw: tuple[int, int]) -> list[int]:
    return [1, hw[0], hw[1], 3]


def _dims(trt_module: Any, hw: tuple[int, int]) -> 'trt.Dims':
    dims: trt.Dims = trt_module.Dims(_nhwc(hw))
    return dims
