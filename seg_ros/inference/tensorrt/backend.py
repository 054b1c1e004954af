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
TensorRT 10 backend: a serialized engine driven through named I/O tensors and one CUDA stream.

Per frame only the uint8 RGB frame goes to the GPU and the uint8 labels come back (4 bytes per
pixel, 1.2 MB for 640x480, against 12 bytes per pixel for a float32 NCHW input alone): resize,
normalisation, upsampling and argmax run inside the engine. Host buffers are pinned so the
copies are truly asynchronous; host and device buffers are kept across frames and only grown
when a frame needs more bytes than they hold.

The CUDA context is the device's primary context (the one the TensorRT runtime uses), pushed
around every GPU call, because the node constructs the backend in one thread and runs it in
another. The sizing and engine-selection logic are plain functions, tested without a GPU.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Mapping, Optional, Sequence, TYPE_CHECKING

import numpy as np

from seg_ros.inference import contract
from seg_ros.inference.backend import (Backend, BackendError, BackendOptions, check_frame,
                                       Segmentation)
from seg_ros.inference.tensorrt import engine_builder
from seg_ros.inference.tensorrt import engine_cache

if TYPE_CHECKING:
    import tensorrt as trt

LOG = logging.getLogger('seg_ros.tensorrt')
BuildFn = Callable[[str, str, engine_cache.BuildSettings], Any]


def tensor_nbytes(shape: Sequence[int], itemsize: int, name: str = 'tensor') -> int:
    """Return the bytes a tensor of ``shape`` needs; a dimension still -1 is an engine bug."""
    if any(int(d) < 0 for d in shape):
        raise BackendError(f'TensorRT left the shape of "{name}" unresolved ({list(shape)}) '
                           'after set_input_shape; rebuild the engine from a contract ONNX')
    return int(np.prod([int(d) for d in shape], dtype=np.int64)) * int(itemsize)


def buffers_to_grow(capacity: Mapping[str, int], needed: Mapping[str, int]) -> dict[str, int]:
    """Return the buffers (name -> new size) that must be reallocated for this frame size."""
    return {name: size for name, size in needed.items() if size > capacity.get(name, 0)}


def settings_from_options(options: BackendOptions) -> engine_cache.BuildSettings:
    """Return how the node builds an engine for a plain ``.onnx`` (INT8 needs the CLI)."""
    return engine_cache.BuildSettings(precision='fp16' if options.fp16 else 'fp32',
                                      dla_core=options.dla_core)


def resolve_engine(model_path: str, options: BackendOptions, platform: engine_cache.Platform,
                   build: BuildFn) -> tuple[str, dict[str, Any]]:
    """
    Return the engine to load for ``model_path`` and its sidecar, building it when needed.

    ``.engine``: used as given if its sidecar matches this TensorRT and GPU, else a clear error
    with the rebuild command. ``.onnx``: the cached engine (``engine_cache_dir`` or beside the
    ONNX) is reused when fresh and (re)built by ``build`` when missing or stale.
    """
    if model_path.endswith('.engine'):
        try:
            return model_path, engine_cache.check_engine(model_path, platform)
        except engine_cache.EngineCacheError as exc:
            raise BackendError(str(exc)) from exc
    if not model_path.endswith('.onnx'):
        raise BackendError(f'{model_path}: backend tensorrt takes a .onnx (built and cached on '
                           'first use) or a .engine made by "seg-ros build-engine"')
    settings = settings_from_options(options)
    engine_path = engine_cache.engine_path_for(model_path, settings, options.engine_cache_dir)
    reasons = engine_cache.stale_reasons(engine_path, engine_cache.sha256_file(model_path),
                                         platform, settings)
    if reasons:
        LOG.warning('building TensorRT engine %s (%s); this takes minutes on a Jetson, later '
                    'starts reuse it', engine_path, '; '.join(reasons))
        try:
            build(model_path, engine_path, settings)
        except engine_builder.EngineBuildError as exc:
            raise BackendError(str(exc)) from exc
        except OSError as exc:
            raise BackendError(f'cannot write the engine {engine_path} ({exc}); set '
                               'engine_cache_dir to a writable folder') from exc
    else:
        LOG.info('reusing TensorRT engine %s', engine_path)
    try:
        return engine_path, engine_cache.check_engine(engine_path, platform)
    except engine_cache.EngineCacheError as exc:
        raise BackendError(str(exc)) from exc


def engine_specs(engine: 'trt.ICudaEngine', trt_module: Any,
                 ) -> tuple[list[contract.TensorSpec], list[contract.TensorSpec]]:
    """Return the engine's inputs and outputs in the contract's terms."""
    inputs, outputs = [], []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        dims = engine.get_tensor_shape(name)
        spec = contract.TensorSpec(name, engine.get_tensor_dtype(name).name,
                                   [int(dims[j]) for j in range(len(dims))])
        if engine.get_tensor_mode(name) == trt_module.TensorIOMode.INPUT:
            inputs.append(spec)
        else:
            outputs.append(spec)
    return inputs, outputs


class TensorRTBackend(Backend):
    """Runs a contract model as a TensorRT engine (built from the ONNX on first use)."""

    name = 'tensorrt'

    def __init__(self, model_path: str, options: BackendOptions) -> None:
        try:
            trt_module = engine_builder.import_tensorrt()
            cuda = engine_builder.import_pycuda()
            platform = engine_builder.current_platform(options.device_id)   # also cuda.init()
        except engine_builder.EngineBuildError as exc:
            raise BackendError(str(exc)) from exc
        self._trt = trt_module
        self._cuda = cuda
        self._platform = platform
        self._ctx = cuda.Device(options.device_id).retain_primary_context()
        self._ctx.push()
        try:
            self._load(model_path, options)
        except BaseException:
            self._ctx.pop()
            self._ctx.detach()
            raise
        self._ctx.pop()

    def _load(self, model_path: str, options: BackendOptions) -> None:
        trt_module = self._trt

        def build(onnx_path: str, engine_path: str, settings: engine_cache.BuildSettings) -> Any:
            return engine_builder.build_engine(onnx_path, engine_path, settings,
                                               device_id=options.device_id)

        engine_path, sidecar = resolve_engine(model_path, options, self._platform, build)
        self._logger: trt.ILogger = trt_module.Logger(trt_module.Logger.WARNING)
        self._runtime: trt.Runtime = trt_module.Runtime(self._logger)
        with open(engine_path, 'rb') as f:
            engine = self._runtime.deserialize_cuda_engine(f.read())
        if engine is None:
            raise BackendError(engine_cache.mismatch_message(
                engine_path, sidecar, ['TensorRT could not deserialize it (see its message '
                                       'above)']))
        self._engine: 'trt.ICudaEngine' = engine
        inputs, outputs = engine_specs(engine, trt_module)
        try:
            info = contract.check_io(inputs, outputs, sidecar.get('metadata', {}),
                                     source=engine_path)
        except contract.ContractError as exc:
            raise BackendError(str(exc)) from exc
        super().__init__(info, model_path)
        self.engine_path = engine_path
        self.sidecar = sidecar
        # Every output needs a device buffer; only the ones the node uses are copied back.
        self._outputs = [t.name for t in outputs]
        self._fetch = [contract.LABELS] + (
            [contract.CONFIDENCE] if info.has_confidence and options.confidence else [])
        self._dtypes = {t.name: np.dtype(trt_module.nptype(engine.get_tensor_dtype(t.name)))
                        for t in inputs + outputs}
        self._context: 'trt.IExecutionContext' = engine.create_execution_context()
        self._stream = self._cuda.Stream()
        self._capacity: dict[str, int] = {}
        self._host: dict[str, np.ndarray] = {}
        self._device: dict[str, Any] = {}
        self._views: dict[str, np.ndarray] = {}
        self._hw: Optional[tuple[int, int]] = None
        self._closed = False

    def _reshape(self, height: int, width: int) -> None:
        """Set the input shape; grow buffers and rebind addresses only when a size needs it."""
        problem = engine_cache.profile_error(height, width, self.sidecar, self.engine_path)
        if problem:
            raise BackendError(problem)
        ctx = self._context
        if not ctx.set_input_shape(contract.INPUT, (1, height, width, 3)):
            raise BackendError(f'TensorRT refused input shape 1x{height}x{width}x3 for '
                               f'{self.engine_path}')
        shapes: dict[str, tuple[int, ...]] = {contract.INPUT: (1, height, width, 3)}
        for name in self._outputs:
            dims = ctx.get_tensor_shape(name)
            shapes[name] = tuple(int(dims[j]) for j in range(len(dims)))
        needed = {name: tensor_nbytes(shape, self._dtypes[name].itemsize, name)
                  for name, shape in shapes.items()}
        for name, size in buffers_to_grow(self._capacity, needed).items():
            if name in self._device:
                self._device[name].free()
            self._host[name] = self._cuda.pagelocked_empty(size, np.uint8)
            self._device[name] = self._cuda.mem_alloc(size)
            self._capacity[name] = size
            if not ctx.set_tensor_address(name, int(self._device[name])):
                raise BackendError(f'TensorRT refused the device buffer of "{name}"')
        self._views = {name: self._host[name][:needed[name]].view(self._dtypes[name])
                       .reshape(shape) for name, shape in shapes.items()}
        self._hw = (height, width)

    def infer(self, rgb: np.ndarray) -> Segmentation:
        batch = check_frame(rgb)
        cuda, stream = self._cuda, self._stream
        self._ctx.push()
        try:
            if self._hw != batch.shape[1:3]:
                self._reshape(int(batch.shape[1]), int(batch.shape[2]))
            np.copyto(self._views[contract.INPUT], batch)
            cuda.memcpy_htod_async(self._device[contract.INPUT], self._views[contract.INPUT],
                                   stream)
            if not self._context.execute_async_v3(stream.handle):
                raise BackendError(f'TensorRT failed to run {self.engine_path} (see its '
                                   'message above)')
            for name in self._fetch:
                cuda.memcpy_dtoh_async(self._views[name], self._device[name], stream)
            stream.synchronize()
        finally:
            self._ctx.pop()
        # Copies: the pinned buffers are overwritten by the next frame.
        labels = self._views[contract.LABELS][0].astype(np.uint8, copy=True)
        confidence = None
        if contract.CONFIDENCE in self._fetch:
            confidence = self._views[contract.CONFIDENCE][0].astype(np.float32, copy=True)
        return Segmentation(labels=labels, confidence=confidence)

    def describe(self) -> str:
        dla = self.sidecar.get('dla_core', -1)
        return (f'tensorrt {self._platform.tensorrt_version} on {self._platform.gpu_name} '
                f'(sm {self._platform.compute_capability}), {self.sidecar.get("precision")} '
                f'engine {os.path.basename(self.engine_path)}'
                + (f', DLA core {dla}' if dla is not None and int(dla) >= 0 else ''))

    def close(self) -> None:
        if getattr(self, '_closed', True):
            return
        self._closed = True
        self._ctx.push()
        try:
            for allocation in self._device.values():
                allocation.free()
            self._device.clear()
            self._host.clear()
            self._views.clear()
            del self._context
            del self._engine
        finally:
            self._ctx.pop()
            self._ctx.detach()
