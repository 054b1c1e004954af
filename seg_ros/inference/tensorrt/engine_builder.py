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
Build a TensorRT engine (plus its sidecar) from a seg_ros contract ONNX; TensorRT 10.3 to 11.x.

The contract puts resizing and normalisation inside the graph, so the network input is the raw
uint8 NHWC frame: the optimisation profile ranges over camera sizes.

Precision, by TensorRT version (see :func:`plan_precision`):

- a *typed* ONNX (``seg-ros export --precision fp16|int8``: float16 tensors, Q/DQ nodes) is
  built as a strongly typed network on every version: the graph decides each layer's type;
- a float32 ONNX on TensorRT 10 may still be lowered with the implicit ``FP16``/``INT8`` builder
  flags (INT8 with an entropy calibrator, deprecated since 10.1);
- TensorRT 11 has neither flag nor calibrators: a float32 ONNX builds as FP32 there, and asking
  for ``--fp16``/``--int8`` says to export a typed model instead.

TensorRT and CUDA are imported only inside the functions that need them; everything that decides
(precision plan, DLA checks, calibration keys, inspector parsing) is plain Python, tested without
a GPU against the real bindings' attribute listings.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from typing import Any, Callable, Iterator, Optional, TYPE_CHECKING

import numpy as np

from seg_ros.common import images
from seg_ros.inference import contract
from seg_ros.inference.tensorrt import cuda_api
from seg_ros.inference.tensorrt import engine_cache
from seg_ros.inference.tensorrt import trt_api
from seg_ros.inference.tensorrt import trt_compat

if TYPE_CHECKING:  # the stubs (tensorrt-stubs) type-check this module without TensorRT
    import tensorrt as trt

LOG = logging.getLogger('seg_ros.tensorrt')


class EngineBuildError(RuntimeError):
    """The engine could not be built; the message names the cause and what to change."""


_NO_TRT = ("TensorRT's Python bindings are not importable here (only type stubs or nothing). "
           'On a Jetson they come with JetPack (JetPack 6.1/6.2: TensorRT 10.3, sudo apt '
           'install python3-libnvinfer; then use the system Python or a venv made with '
           '--system-site-packages). Do NOT pip install tensorrt on a Jetson: the PyPI '
           'package "tensorrt" is TensorRT 11 for CUDA 13 and x86_64/SBSA, which JetPack 6 '
           'cannot run. '
           'On a PC with CUDA 12: pip install "tensorrt-cu12>=10.3,<11"; with CUDA 13: pip '
           'install "tensorrt>=11,<12". Or use backend: onnxruntime.')


def import_tensorrt() -> Any:
    """
    Return the real ``tensorrt`` module of a supported version, or raise EngineBuildError.

    ``tensorrt-stubs`` installs an empty ``tensorrt`` namespace package, so a plain import
    succeeds on machines without TensorRT; ``Builder`` tells the real bindings apart.
    """
    try:
        import tensorrt
    except ImportError as exc:
        raise EngineBuildError(_NO_TRT) from exc
    except Exception as exc:  # a broken install raises OSError/RuntimeError from its loader
        raise EngineBuildError(f'TensorRT is installed but does not load ({exc}); '
                               + _NO_TRT) from exc
    if not hasattr(tensorrt, 'Builder'):
        raise EngineBuildError(_NO_TRT)
    try:
        trt_api.check_version(trt_api.version_of(tensorrt))
    except trt_api.TensorRTVersionError as exc:
        raise EngineBuildError(str(exc)) from exc
    return tensorrt


def open_cuda(device_id: int = 0) -> Any:
    """Return a CUDA driver (cuda-python first, pycuda second) or raise EngineBuildError."""
    try:
        return cuda_api.open_driver(device_id)
    except cuda_api.CudaError as exc:
        raise EngineBuildError(str(exc)) from exc


def platform_for(trt_module: Any, driver: Any) -> engine_cache.Platform:
    """Return the TensorRT version and GPU an engine built here is tied to."""
    with driver.current():
        info = driver.device_info()
    return engine_cache.Platform(tensorrt_version=trt_api.version_of(trt_module),
                                 gpu_name=info.name, compute_capability=info.capability,
                                 multiprocessors=info.multiprocessors,
                                 memory_gib=engine_cache.memory_gib(info.total_memory))


def current_platform(device_id: int = 0) -> engine_cache.Platform:
    """Return the platform an engine built here would be tied to."""
    trt_module = import_tensorrt()
    driver = open_cuda(device_id)
    try:
        return platform_for(trt_module, driver)
    except cuda_api.CudaError as exc:
        raise EngineBuildError(f'TensorRT {trt_api.version_of(trt_module)}: {exc}') from exc
    finally:
        driver.release()


# -- decisions (no TensorRT needed) -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PrecisionPlan:
    """How the network is created and configured for the wanted precision."""

    strongly_typed: bool           # NetworkDefinitionCreationFlag.STRONGLY_TYPED
    flags: tuple[str, ...]         # GUARDED BuilderFlag names to set (TensorRT 10 only)
    calibrate: bool                # implicit INT8 calibration (TensorRT 10 only)
    precision: str                 # what the engine will run: fp32 | fp16 | int8
    note: str = ''                 # a warning for the log, if any


def plan_precision(trt_module: Any, wanted: str, model: str, strict: bool = True) -> PrecisionPlan:
    """
    Decide typing and flags for ``wanted`` precision and an ONNX whose own precision is ``model``.

    ``strict`` (the CLI): an impossible request is an error. Not strict (the node, whose
    ``fp16`` parameter defaults to true): TensorRT 11 builds a float32 ONNX as FP32 and says how
    to get FP16.
    """
    version = trt_api.version_of(trt_module)
    if model != 'fp32':
        note = ''
        if wanted not in ('fp32', model):
            note = (f'the ONNX is {model} (its own types and Q/DQ nodes decide); ignoring '
                    f'--{wanted}')
        return PrecisionPlan(True, (), False, model, note)
    if wanted == 'fp32':
        return PrecisionPlan(False, (), False, 'fp32')
    if trt_api.strongly_typed_only(trt_module):
        fix = ('seg-ros export NAME --precision fp16' if wanted == 'fp16'
               else 'seg-ros export NAME --precision int8 --calib DIR')
        message = (f'TensorRT {version} builds every network strongly typed and has no '
                   f'{wanted.upper()} builder flag: a float32 ONNX runs as FP32. For '
                   f'{wanted.upper()} build from a typed export: {fix}')
        if strict:
            raise EngineBuildError(message)
        return PrecisionPlan(False, (), False, 'fp32', message)
    if wanted == 'fp16':
        return PrecisionPlan(False, ('BuilderFlag.FP16',), False, 'fp16')
    return PrecisionPlan(False, ('BuilderFlag.FP16', 'BuilderFlag.INT8'), True, 'int8',
                         f'TensorRT {version}: implicit INT8 calibration is deprecated since '
                         '10.1 and gone in 11; prefer seg-ros export NAME --precision int8 '
                         '--calib DIR')


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


def prepare_settings(onnx_path: str, settings: engine_cache.BuildSettings
                     ) -> engine_cache.BuildSettings:
    """
    Return ``settings`` completed from the ONNX: typed precision, calibration digest.

    A typed ONNX's precision replaces the wanted one (the graph decides); an implicit INT8
    build gets the digest of its calibration frames, which is part of the cache key.
    """
    model = trt_compat.model_precision(onnx_path)
    if model == 'int8-cpu':
        raise EngineBuildError(
            f'{onnx_path} is an int8-cpu export (the CPU quantized form of ONNX Runtime: QLinear '
            'operators, uint8 activations), which TensorRT cannot build; export the model with '
            '--precision int8 (symmetric Q/DQ) for TensorRT, or run this one with the '
            'onnxruntime backend on a CPU')
    if model != 'fp32':
        settings = dataclasses.replace(settings, precision=model, typed=True, calib_dir='',
                                       calib_limit=0, calib_digest='')
    elif settings.precision == 'int8' and settings.calib_dir:
        files = list_images(settings.calib_dir)
        files = files[:settings.calib_limit] if settings.calib_limit else files
        settings = dataclasses.replace(settings,
                                       calib_digest=engine_cache.calibration_digest(files))
    settings.validate()
    return settings


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


def gpu_layers(engine_json: str) -> list[str]:
    """
    Return the layers of an engine that run on the GPU, from IEngineInspector's JSON.

    With a DLA build, TensorRT folds everything the DLA runs into "ForeignNode" layers (layer
    type ``DLA``/``ForeignNode`` or a name ``{ForeignNode[...]}``); every other layer (format
    conversions included) runs on the GPU, i.e. fell back.
    """
    try:
        info = json.loads(engine_json)
    except json.JSONDecodeError:
        return []
    out = []
    for entry in info.get('Layers', []) if isinstance(info, dict) else []:
        if isinstance(entry, dict):
            name = str(entry.get('Name', ''))
            kind = str(entry.get('LayerType', ''))
        else:
            name, kind = str(entry), ''
        if 'ForeignNode' in name or kind in ('DLA', 'ForeignNode') or 'DLA' in kind.upper():
            continue
        out.append(name)
    return out


# -- the build (needs TensorRT and a GPU) ------------------------------------------------------

def make_calibrator(trt_module: Any, driver: Any, batches: Iterator[np.ndarray], nbytes: int,
                    cache_file: str = '', onnx_sha256: str = '',
                    calib_digest: str = '') -> Any:
    """
    Return an IInt8EntropyCalibrator2 (TensorRT 10 only) feeding ``batches``.

    Its cache is read only when its key file matches this ONNX and these frames (see
    :func:`engine_cache.read_calibration_cache`).
    """
    base = trt_api.get(trt_module, 'IInt8EntropyCalibrator2', 'implicit INT8 calibration')

    class EntropyCalibrator(base):  # type: ignore[misc,valid-type]
        """Feeds one frame per batch; TensorRT asks until get_batch returns None."""

        def __init__(self) -> None:
            base.__init__(self)
            self.device = driver.device(nbytes)
            self.count = 0

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> Optional[list[int]]:
            batch = next(batches, None)
            if batch is None:
                return None
            driver.htod(self.device, batch)
            self.count += 1
            return [driver.address(self.device)]

        def read_calibration_cache(self) -> Optional[bytes]:
            return engine_cache.read_calibration_cache(cache_file, onnx_sha256, calib_digest)

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_file:
                engine_cache.write_calibration_cache(cache_file, bytes(cache), onnx_sha256,
                                                     calib_digest)

        def free(self) -> None:
            driver.free(self.device)

    return EntropyCalibrator()


def _parse(trt_module: Any, network: 'trt.INetworkDefinition', logger: 'trt.ILogger',
           onnx_path: str) -> 'trt.OnnxParser':
    parser: trt.OnnxParser = trt_module.OnnxParser(network, logger)
    if not parser.parse_from_file(os.path.abspath(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(
            f'TensorRT {trt_api.version_of(trt_module)} could not parse {onnx_path}:\n  '
            + '\n  '.join(errors)
            + '\nCheck the graph without TensorRT: seg-ros build-engine --check ' + onnx_path)
    return parser


def build_engine(onnx_path: str, engine_path: str, settings: engine_cache.BuildSettings,
                 device_id: int = 0, calib_limit: int = 0, calib_cache: str = '',
                 log: Callable[[str], None] = LOG.info, strict: bool = True) -> dict[str, Any]:
    """
    Build ``engine_path`` from ``onnx_path`` and write its sidecar; return the sidecar.

    The ONNX is contract-checked first (a build takes minutes on a Jetson; a missing class
    table should not be found after it). The engine and sidecar are written atomically, engine
    first, so a reader never pairs a new sidecar with an old engine. The CUDA context is made
    current only for the build and released after it, on this thread.
    """
    if calib_limit and not settings.calib_limit:
        settings = dataclasses.replace(settings, calib_limit=calib_limit)
    try:
        settings = prepare_settings(onnx_path, settings)
        info = contract.check_onnx(onnx_path)
    except (contract.ContractError, ValueError) as exc:
        raise EngineBuildError(str(exc)) from exc
    try:
        for problem in trt_compat.check_model(onnx_path):
            log(f'warning (TensorRT 10.0 parser table): {problem}')
    except FileNotFoundError:
        pass  # the table is a development aid; the parser below has the last word
    trt_module = import_tensorrt()
    version = trt_api.version_of(trt_module)
    driver = open_cuda(device_id)
    try:
        platform = platform_for(trt_module, driver)
        with driver.current():
            return _build(trt_module, driver, platform, onnx_path, engine_path, settings, info,
                          calib_cache, log, strict)
    except (cuda_api.CudaError, trt_api.TensorRTVersionError) as exc:
        raise EngineBuildError(f'TensorRT {version}: {exc}') from exc
    finally:
        driver.release()


def _build(trt_module: Any, driver: Any, platform: engine_cache.Platform, onnx_path: str,
           engine_path: str, settings: engine_cache.BuildSettings, info: contract.ModelInfo,
           calib_cache: str, log: Callable[[str], None], strict: bool) -> dict[str, Any]:
    onnx_sha = engine_cache.sha256_file(onnx_path)
    plan = plan_precision(trt_module, settings.precision, trt_compat.model_precision(onnx_path),
                          strict)
    if plan.note:
        log(f'warning: {plan.note}')
    settings = dataclasses.replace(settings, precision=plan.precision)
    logger: trt.ILogger = trt_module.Logger(trt_module.Logger.WARNING)
    builder: trt.Builder = trt_module.Builder(logger)
    flags = (1 << int(trt_module.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
             if plan.strongly_typed else 0)
    network = builder.create_network(flags)   # explicit batch is the only mode since 10
    # The parser owns the weights the network points to: it must outlive the build.
    parser = _parse(trt_module, network, logger, onnx_path)
    config = builder.create_builder_config()
    config.profiling_verbosity = trt_module.ProfilingVerbosity.DETAILED   # for the inspector
    if settings.workspace_mb:
        config.set_memory_pool_limit(trt_module.MemoryPoolType.WORKSPACE,
                                     settings.workspace_mb << 20)
    profile = builder.create_optimization_profile()
    profile.set_shape(contract.INPUT, _dims(trt_module, settings.min_hw),
                      _dims(trt_module, settings.opt_hw), _dims(trt_module, settings.max_hw))
    config.add_optimization_profile(profile)
    if ('BuilderFlag.FP16' in plan.flags
            and trt_api.has(trt_module, 'Builder.platform_has_fast_fp16')
            and not getattr(builder, 'platform_has_fast_fp16')):
        log(f'warning: {platform.gpu_name} has no fast FP16; the engine may be slower')
    for flag in plan.flags:
        config.set_flag(trt_api.get(trt_module, flag, f'--{plan.precision}'))
    calibrator = None
    if plan.calibrate:
        calib_profile = builder.create_optimization_profile()
        opt = _dims(trt_module, settings.opt_hw)
        calib_profile.set_shape(contract.INPUT, opt, opt, opt)
        trt_api.call(trt_module, config, 'IBuilderConfig.set_calibration_profile', calib_profile)
        batches = calibration_batches(settings.calib_dir, settings.opt_hw, settings.calib_limit)
        # Held here until the build returns: the binding does not keep the Python object alive.
        calibrator = make_calibrator(trt_module, driver, batches,
                                     int(np.prod(_nhwc(settings.opt_hw))), calib_cache,
                                     onnx_sha, settings.calib_digest)
        trt_api.assign(trt_module, config, 'IBuilderConfig.int8_calibrator', calibrator)
    fallback: list[str] = []
    if settings.dla_core >= 0:
        fallback = _configure_dla(trt_module, builder, network, config, settings, platform, log)
    timing = _load_timing_cache(config, settings.timing_cache, log)
    log(f'building {settings.precision} engine for {platform.gpu_name} (sm '
        f'{platform.compute_capability}, TensorRT {platform.tensorrt_version}, '
        f'{"strongly typed" if plan.strongly_typed else "weakly typed"}) from {onnx_path}; '
        'this takes minutes on a Jetson')
    start = time.monotonic()
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            log(f'calibrated on {calibrator.count} frames from {settings.calib_dir}')
            calibrator.free()
    del parser
    if serialized is None:
        raise EngineBuildError(
            f'TensorRT {platform.tensorrt_version} failed to build {engine_path} (see its '
            'messages above); common causes: too small --workspace, layers unsupported at '
            'this precision or on the DLA')
    data = bytes(serialized)
    on_gpu: list[str] = []
    if settings.dla_core >= 0:
        on_gpu = _inspect_dla(trt_module, logger, data, settings.dla_core, log) or fallback
    if timing is not None:
        engine_cache.atomic_write(settings.timing_cache, bytes(timing.serialize()))
    engine_cache.atomic_write(engine_path, data)
    sidecar = engine_cache.make_sidecar(
        onnx_path, onnx_sha, hashlib.sha256(data).hexdigest(), platform, settings,
        {k: v for k, v in info.metadata.items() if k.startswith('seg_ros.')})
    if settings.dla_core >= 0:
        sidecar['gpu_fallback_layers'] = on_gpu
    engine_cache.write_sidecar(engine_path, sidecar)
    log(f'wrote {engine_path} ({len(data) / 1e6:.1f} MB) in {time.monotonic() - start:.0f} s')
    return sidecar


def _configure_dla(trt_module: Any, builder: 'trt.Builder',
                   network: 'trt.INetworkDefinition', config: 'trt.IBuilderConfig',
                   settings: engine_cache.BuildSettings, platform: engine_cache.Platform,
                   log: Callable[[str], None]) -> list[str]:
    """Put the network on a DLA core with GPU fallback; return the layers the DLA cannot run."""
    note = trt_api.dla_note(platform.tensorrt_version)
    if note:
        log(f'warning: {note}')
    if builder.num_DLA_cores <= settings.dla_core:
        raise EngineBuildError(
            f'--dla {settings.dla_core}: {platform.gpu_name} has {builder.num_DLA_cores} '
            f'DLA core(s) under TensorRT {platform.tensorrt_version} (Jetson AGX Orin: 2, '
            'Orin NX: 1 or 2, Orin Nano: none); omit --dla to build for the GPU'
            + (f'. {note}' if note else ''))
    config.default_device_type = trt_module.DeviceType.DLA
    config.DLA_core = settings.dla_core
    config.set_flag(trt_module.BuilderFlag.GPU_FALLBACK)
    fallback: list[str] = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if not config.can_run_on_DLA(layer):
            fallback.append(str(layer.name))
    if fallback:
        log(f'DLA core {settings.dla_core}: {len(fallback)} of {network.num_layers} layers '
            f'fall back to the GPU: {", ".join(fallback[:20])}'
            + (' ...' if len(fallback) > 20 else ''))
    return fallback


def _inspect_dla(trt_module: Any, logger: 'trt.ILogger', data: bytes, dla_core: int,
                 log: Callable[[str], None]) -> list[str]:
    """Deserialize the new engine and report, from IEngineInspector, what runs on the GPU."""
    runtime: trt.Runtime = trt_module.Runtime(logger)
    runtime.DLA_core = dla_core
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        return []
    inspector = engine.create_engine_inspector()
    layers = gpu_layers(inspector.get_engine_information(trt_module.LayerInformationFormat.JSON))
    log(f'engine inspector: {len(layers)} layer(s) run on the GPU'
        + (f': {", ".join(layers[:20])}' if layers else ' (everything on DLA)'))
    return layers


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
