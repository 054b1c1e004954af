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
TensorRT backend (10.3 to 11.x): a serialized engine driven through named I/O tensors.

Per frame only the uint8 RGB frame goes to the GPU and the uint8 labels come back (4 bytes per
pixel, 1.2 MB for 640x480, against 12 bytes per pixel for a float32 NCHW input alone): resize,
normalisation, upsampling and argmax run inside the engine. Host buffers are pinned so the
copies are truly asynchronous; host and device buffers are kept across frames and only grown
when a frame needs more bytes than they hold.

The execution context's activation memory is the backend's too (``USER_MANAGED``, as
Polygraphy's runtime allocation strategy does): sized by
``update_device_memory_size_for_shapes()`` for the frames that really arrive, instead of
TensorRT's static allocation for the profile's largest shape (with full-frame float logits, a
150-class model at 1920x1080 needs 1.24 GB, on an 8 GB Orin shared with the rest of the robot).
Growing is transactional: new buffers are allocated first, then swapped in, then the old ones
freed; when an allocation fails the backend keeps its previous size and buffers.

CUDA comes through cuda-python (pycuda as the fallback, :mod:`.cuda_api`) on the device's
primary context, the one the TensorRT runtime uses. The node loads the model in one thread and
runs frames in another, so every CUDA and TensorRT call of this backend, ``close`` included, runs
on one thread the backend owns (:class:`.cuda_api.CudaThread`): contexts, stream and buffers are
made and released where they belong. Every failure while loading or running becomes a
BackendError naming the TensorRT version and what to do. The sizing and engine-selection logic
are plain functions, tested without a GPU.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable, Mapping, Optional, Sequence, TYPE_CHECKING

import numpy as np

from seg_ros.inference import contract
from seg_ros.inference.backend import (Backend, BackendError, BackendOptions, check_frame,
                                       Segmentation)
from seg_ros.inference.tensorrt import cuda_api
from seg_ros.inference.tensorrt import engine_builder
from seg_ros.inference.tensorrt import engine_cache
from seg_ros.inference.tensorrt import trt_api

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
    """
    Return how the node builds an engine for a plain ``.onnx`` (implicit INT8 needs the CLI).

    A DLA engine must be static, so the profile is the default camera size only (min = opt =
    max); other frame sizes are refused with the rebuild command.
    """
    settings = engine_cache.BuildSettings(precision='fp16' if options.fp16 else 'fp32',
                                          dla_core=options.dla_core)
    if options.dla_core >= 0:
        opt = engine_cache.DEFAULT_OPT
        settings = dataclasses.replace(settings, min_hw=opt, max_hw=opt)
    return settings


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
    try:
        settings = engine_builder.prepare_settings(model_path, settings_from_options(options))
    except (ValueError, engine_builder.EngineBuildError) as exc:
        raise BackendError(str(exc)) from exc
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


# TensorRT DataType names -> NumPy (tensorrt.nptype lives in the package's Python layer).
_NUMPY_TYPES = {'FLOAT': np.float32, 'HALF': np.float16, 'INT8': np.int8, 'INT32': np.int32,
                'INT64': np.int64, 'UINT8': np.uint8, 'BOOL': np.bool_}


def numpy_dtype(trt_dtype_name: str) -> np.dtype:
    """Return the NumPy dtype of a TensorRT DataType (by name); BackendError when unknown."""
    try:
        return np.dtype(_NUMPY_TYPES[trt_dtype_name])
    except KeyError:
        raise BackendError(f'engine tensor type {trt_dtype_name} is not one the seg_ros '
                           'contract uses (uint8 image, uint8/int32 labels, float confidence); '
                           're-export the model with "seg-ros export"') from None


def failure_message(version: str, stage: str, exc: BaseException) -> str:
    """Return the BackendError text for a CUDA/TensorRT failure: version, cause, what to do."""
    kind = type(exc).__name__
    hint = ('check that the engine was built on this machine and that no other process holds '
            'the GPU memory (tegrastats / nvidia-smi); restart the node after fixing it, or set '
            'backend: onnxruntime')
    if isinstance(exc, AttributeError):
        hint = ('this TensorRT lacks an API seg_ros expected; seg_ros supports TensorRT 10.3 to '
                '11.x (see doc/tensorrt.md); report the message above')
    elif isinstance(exc, cuda_api.CudaError):
        hint = f'check the CUDA driver and device ({cuda_api.INSTALL_HINT})'
    return f'TensorRT {version}: {stage} failed ({kind}: {exc}); {hint}'


def megabytes(nbytes: int) -> str:
    """Return a byte count as the diagnostics show memory: decimal MB, one decimal."""
    return f'{nbytes / 1e6:.1f} MB'


def logits_bytes(num_classes: int, height: int, width: int, itemsize: int = 4) -> int:
    """
    Return the bytes of a contract model's full-frame logits: the engine-free activation figure.

    The graph upsamples the network's class scores to the frame size before ``ArgMax``, so one
    ``num_classes x H x W`` float tensor must exist in the activation memory: a lower bound of
    what TensorRT needs for that frame size, computable without an engine (doc/tensorrt.md
    tabulates it per model and profile; the backend reports TensorRT's own figure).
    """
    return int(num_classes) * int(height) * int(width) * int(itemsize)


def context_failure_message(version: str, engine_path: str, sidecar: Mapping[str, Any],
                            max_bytes: int, num_classes: int) -> str:
    """Return the error for ``create_execution_context`` returning None: memory, size, fix."""
    hi = engine_cache.settings_from_sidecar(sidecar)
    opt_h, opt_w = hi.opt_hw
    lo = (min(hi.min_hw[0], opt_h), min(hi.min_hw[1], opt_w))
    smaller = dataclasses.replace(hi, max_hw=hi.opt_hw, min_hw=lo)
    onnx = str(sidecar.get('onnx_path', '')) or 'MODEL.onnx'
    max_h, max_w = hi.max_hw
    return (f'TensorRT {version} could not create an execution context for {engine_path} '
            f'(out of GPU memory): the engine needs up to {megabytes(max_bytes)} of activation '
            f'memory at its profile max {max_w}x{max_h} (the full-frame float logits alone are '
            f'{megabytes(logits_bytes(num_classes, max_h, max_w))}). Free GPU memory (tegrastats '
            '/ nvidia-smi) or rebuild with a smaller --max profile (your camera size): '
            f'{engine_cache.build_command(onnx, engine_path, smaller)}')


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


def create_user_managed_context(trt_module: Any, engine: 'trt.ICudaEngine'
                                ) -> Optional['trt.IExecutionContext']:
    """
    Return an execution context whose activation memory the caller provides (None: failed).

    TensorRT 10.13+ takes the strategy through an ``IRuntimeConfig``; 10.3 (JetPack 6) only
    through ``create_execution_context(strategy)``. ``USER_MANAGED`` is in every supported
    version (checked against the bindings' listings by test_trt_api.py).
    """
    strategy = trt_module.ExecutionContextAllocationStrategy.USER_MANAGED
    if trt_api.has(trt_module, 'ICudaEngine.create_runtime_config'):
        runtime_config = trt_api.call(trt_module, engine, 'ICudaEngine.create_runtime_config')
        trt_api.call(trt_module, runtime_config,
                     'IRuntimeConfig.set_execution_context_allocation_strategy', strategy)
        context: Optional['trt.IExecutionContext'] = engine.create_execution_context(
            runtime_config)
        return context
    return engine.create_execution_context(strategy)


class TensorRTBackend(Backend):
    """Runs a contract model as a TensorRT engine (built from the ONNX on first use)."""

    name = 'tensorrt'

    def __init__(self, model_path: str, options: BackendOptions,
                 driver_factory: Optional[Callable[[int], Any]] = None) -> None:
        self._closed = True
        self._version = 'unknown'
        try:
            trt_module = engine_builder.import_tensorrt()
        except engine_builder.EngineBuildError as exc:
            raise BackendError(str(exc)) from exc
        self._trt = trt_module
        self._version = trt_api.version_of(trt_module)
        self._thread = cuda_api.CudaThread()
        try:
            self._thread.run(self._open, model_path, options,
                             driver_factory or engine_builder.open_cuda)
        except BaseException as exc:
            try:
                self._thread.run(self._release)
            except Exception as release_exc:  # the load's own error is the one to report
                LOG.warning('%s', failure_message(self._version, 'releasing after a failed '
                                                  'load', release_exc))
            self._thread.shutdown()
            if isinstance(exc, (BackendError, engine_builder.EngineBuildError)):
                message = str(exc)
                if f'TensorRT {self._version}' not in message:
                    message = f'TensorRT {self._version}: {message}'
                raise BackendError(message) from exc
            if isinstance(exc, Exception):
                raise BackendError(failure_message(self._version, f'loading {model_path}',
                                                   exc)) from exc
            raise
        self._closed = False

    # Everything below runs on self._thread.

    def _open(self, model_path: str, options: BackendOptions,
              driver_factory: Callable[[int], Any]) -> None:
        self._driver: Any = None
        self._device: dict[str, Any] = {}
        self._host_handles: dict[str, Any] = {}
        self._stream: Any = None
        self._driver = driver_factory(options.device_id)
        self._platform = engine_builder.platform_for(self._trt, self._driver)
        with self._driver.current():
            self._load(model_path, options)

    def _load(self, model_path: str, options: BackendOptions) -> None:
        trt_module = self._trt

        def build(onnx_path: str, engine_path: str, settings: engine_cache.BuildSettings) -> Any:
            # Same thread, the context stays current: builder and runtime share it.
            return engine_builder.build_engine(onnx_path, engine_path, settings,
                                               device_id=options.device_id, strict=False)

        if options.fp16 and trt_api.strongly_typed_only(trt_module):
            # TensorRT 11: no FP16 flag. A typed ONNX brings its own precision anyway; a float32
            # one is built (and cached) as what it will be, FP32, instead of as "fp16".
            LOG.warning('TensorRT %s builds strongly typed networks: fp16 applies only to '
                        'typed exports (seg-ros export NAME --precision fp16); a float32 ONNX '
                        'runs as FP32', self._version)
            options = dataclasses.replace(options, fp16=False)
        engine_path, sidecar = resolve_engine(model_path, options, self._platform, build)
        self._logger: trt.ILogger = trt_module.Logger(trt_module.Logger.WARNING)
        self._runtime: trt.Runtime = trt_module.Runtime(self._logger)
        dla = int(sidecar.get('dla_core', -1))
        if dla >= 0:
            self._runtime.DLA_core = dla   # before deserialising: the engine runs on this core
        with open(engine_path, 'rb') as f:
            engine = self._runtime.deserialize_cuda_engine(f.read())
        if engine is None:
            raise BackendError(engine_cache.mismatch_message(
                engine_path, sidecar, [f'TensorRT {self._version} could not deserialize it '
                                       '(see its message above)']))
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
        self._dtypes = {t.name: numpy_dtype(str(t.dtype)) for t in inputs + outputs}
        self._capacity: dict[str, int] = {}
        self._host: dict[str, np.ndarray] = {}
        self._views: dict[str, np.ndarray] = {}
        self._hw: Optional[tuple[int, int]] = None
        self._broken = ''                              # set when a failed resize left a mess
        self._activation: Any = None                   # device allocation for the context
        self._activation_capacity = 0
        self.activation_bytes = 0                      # what the current frame size needs
        self.max_activation_bytes = int(engine.device_memory_size_v2)
        context = create_user_managed_context(trt_module, engine)
        if context is None:
            raise BackendError(context_failure_message(
                self._version, engine_path, sidecar, self.max_activation_bytes,
                len(info.classes)))
        self._context: 'trt.IExecutionContext' = context
        self._stream = self._driver.stream()

    def _reshape(self, height: int, width: int) -> None:
        """
        Set the input shape; grow buffers and activation memory when the new size needs it.

        Transactional: everything new is allocated before anything old is touched. When an
        allocation fails, what was allocated is freed, the context gets the previous shape back
        and the backend keeps running at the previous size (a BackendError names the size and
        what to do). Only then are the new buffers bound and the old ones freed.
        """
        problem = engine_cache.profile_error(height, width, self.sidecar, self.engine_path)
        if problem:
            raise BackendError(problem)
        ctx = self._context
        if not ctx.set_input_shape(contract.INPUT, (1, height, width, 3)):
            self._restore_shape()
            raise BackendError(f'TensorRT {self._version} refused input shape '
                               f'1x{height}x{width}x3 for {self.engine_path}')
        shapes: dict[str, tuple[int, ...]] = {contract.INPUT: (1, height, width, 3)}
        for name in self._outputs:
            dims = ctx.get_tensor_shape(name)
            shapes[name] = tuple(int(dims[j]) for j in range(len(dims)))
        needed = {name: tensor_nbytes(shape, self._dtypes[name].itemsize, name)
                  for name, shape in shapes.items()}
        activation = int(ctx.update_device_memory_size_for_shapes())
        grow = buffers_to_grow(self._capacity, needed)
        driver = self._driver
        new_host: dict[str, Any] = {}
        new_device: dict[str, Any] = {}
        new_activation = None
        try:
            for name, size in grow.items():
                new_host[name] = driver.host(size)
                new_device[name] = driver.device(size)
            if activation > self._activation_capacity:
                new_activation = driver.device(activation)
        except Exception as exc:  # CudaError, pycuda's MemoryError: out of (pinned) memory
            self._free_quietly([handle for _, handle in new_host.values()],
                               list(new_device.values()) + (
                                   [new_activation] if new_activation is not None else []))
            self._restore_shape()
            total = sum(grow.values()) + max(activation - self._activation_capacity, 0)
            previous = (f'it keeps running at {self._hw[1]}x{self._hw[0]}' if self._hw
                        else 'no frame size has worked yet')
            raise BackendError(
                f'TensorRT {self._version}: out of memory for a {width}x{height} frame: it '
                f'needs {megabytes(total)} more ({megabytes(activation)} of activation memory '
                f'and {megabytes(sum(needed.values()))} of frame and output buffers), and '
                f'allocating it failed ({type(exc).__name__}: {exc}); {previous}. Send '
                'smaller frames (camera resolution) or free GPU memory (tegrastats / '
                'nvidia-smi)') from exc
        # Swap: from here on the new buffers are the backend's; the old ones are freed last.
        old_host = [self._host_handles[name] for name in grow if name in self._host_handles]
        old_device = [self._device[name] for name in grow if name in self._device]
        for name, size in grow.items():
            self._host[name], self._host_handles[name] = new_host[name]
            self._device[name] = new_device[name]
            self._capacity[name] = size
        if new_activation is not None:
            if self._activation is not None:
                old_device.append(self._activation)
            self._activation, self._activation_capacity = new_activation, activation
            LOG.info('%s: %s of activation memory for %dx%d frames (%s at the profile max)',
                     os.path.basename(self.engine_path), megabytes(activation), width, height,
                     megabytes(self.max_activation_bytes))
        self._hw = None
        self._views = {}
        refused = [name for name, allocation in self._device.items()
                   if not ctx.set_tensor_address(name, driver.address(allocation))]
        if refused:
            self._broken = (f'TensorRT {self._version} refused the device buffer of '
                            f'{", ".join(map(repr, refused))} for {self.engine_path}')
        self._bind_activation()
        self.activation_bytes = activation
        if not self._broken:
            self._views = {name: self._host[name][:needed[name]].view(self._dtypes[name])
                           .reshape(shape) for name, shape in shapes.items()}
            self._hw = (height, width)
        self._free(old_host, old_device)
        if self._broken:
            raise BackendError(self._broken + '; reload the model (restart the node)')

    def _bind_activation(self) -> None:
        """Hand the context its activation memory (TensorRT accepts 0 bytes at address 0)."""
        address = self._driver.address(self._activation) if self._activation is not None else 0
        self._context.set_device_memory(address, self._activation_capacity)

    def _restore_shape(self) -> None:
        """Give the context back the shape its buffers are bound for (after a failed resize)."""
        if self._hw is None:
            return
        height, width = self._hw
        ok = self._context.set_input_shape(contract.INPUT, (1, height, width, 3))
        if ok:
            self.activation_bytes = int(self._context.update_device_memory_size_for_shapes())
            self._bind_activation()
        if not ok or self.activation_bytes > self._activation_capacity:
            self._hw = None
            self._broken = (f'TensorRT {self._version} could not return {self.engine_path} to '
                            f'its previous frame size {width}x{height} after a failed resize')

    def _free(self, host_handles: Sequence[Any], allocations: Sequence[Any]) -> None:
        """Free buffers no longer bound; report the first failure after trying them all."""
        errors: list[Exception] = []
        for handle in host_handles:
            try:
                self._driver.free_host(handle)
            except Exception as exc:  # keep freeing the rest
                errors.append(exc)
        for allocation in allocations:
            try:
                self._driver.free(allocation)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _free_quietly(self, host_handles: Sequence[Any], allocations: Sequence[Any]) -> None:
        """Free a half-made allocation; its failure is logged, the allocation's is reported."""
        try:
            self._free(host_handles, allocations)
        except Exception as exc:
            LOG.warning('%s', failure_message(self._version, 'freeing after a failed '
                                              'allocation', exc))

    def _infer(self, batch: np.ndarray) -> Segmentation:
        driver, stream = self._driver, self._stream
        if self._broken:
            raise BackendError(self._broken + '; reload the model (restart the node)')
        with driver.current():
            if self._hw != batch.shape[1:3]:
                self._reshape(int(batch.shape[1]), int(batch.shape[2]))
            np.copyto(self._views[contract.INPUT], batch)
            driver.htod(self._device[contract.INPUT], self._views[contract.INPUT], stream)
            if not self._context.execute_async_v3(driver.stream_handle(stream)):
                raise BackendError(f'TensorRT {self._version} failed to run '
                                   f'{self.engine_path} (see its message above)')
            for name in self._fetch:
                driver.dtoh(self._views[name], self._device[name], stream)
            driver.synchronize(stream)
        # Copies: the pinned buffers are overwritten by the next frame.
        labels = self._views[contract.LABELS][0].astype(np.uint8, copy=True)
        confidence = None
        if contract.CONFIDENCE in self._fetch:
            confidence = self._views[contract.CONFIDENCE][0].astype(np.float32, copy=True)
        return Segmentation(labels=labels, confidence=confidence)

    def _release(self) -> None:
        """Free buffers, stream, context objects and the CUDA context (on the owning thread)."""
        driver = getattr(self, '_driver', None)
        if driver is None:
            return
        errors = []
        try:
            with driver.current():
                for name, allocation in list(getattr(self, '_device', {}).items()):
                    driver.free(allocation)
                    driver.free_host(self._host_handles.pop(name, None))
                self._device = {}
                if getattr(self, '_activation', None) is not None:
                    driver.free(self._activation)
                    self._activation = None
                self._host = {}
                self._views = {}
                for attr in ('_context', '_engine', '_runtime'):
                    if hasattr(self, attr):
                        delattr(self, attr)   # TensorRT objects go while the context is current
                if getattr(self, '_stream', None) is not None:
                    driver.destroy_stream(self._stream)
                    self._stream = None
        except Exception as exc:  # report, but still release the context below
            errors.append(exc)
        finally:
            driver.release()
            self._driver = None
        if errors:
            raise errors[0]

    # The node's side: hand each call to the owning thread.

    def infer(self, rgb: np.ndarray) -> Segmentation:
        batch = check_frame(rgb)
        if self._closed:
            raise BackendError('the TensorRT backend is closed; load the model again')
        try:
            return self._thread.run(self._infer, batch)
        except BackendError:
            raise
        except Exception as exc:  # CUDA errors, TensorRT's RuntimeErrors, pycuda's Error
            raise BackendError(failure_message(self._version, 'inference', exc)) from exc

    def describe(self) -> str:
        dla = self.sidecar.get('dla_core', -1)
        return (f'tensorrt {self._platform.tensorrt_version} on {self._platform.gpu_name} '
                f'(sm {self._platform.compute_capability}), {self.sidecar.get("precision")} '
                f'engine {os.path.basename(self.engine_path)}, {self._driver_name()}'
                + (f', DLA core {dla}' if dla is not None and int(dla) >= 0 else '')
                + f', {self.memory_summary()}')

    def hardware(self) -> str:
        return (f'tensorrt {self._platform.tensorrt_version} on {self._platform.gpu_name} '
                f'(sm {self._platform.compute_capability})')

    def memory(self) -> str:
        return self.memory_summary()

    def memory_summary(self) -> str:
        """
        Return the activation memory the execution context holds, for logs and /diagnostics.

        TensorRT's figure for the current frame size (``update_device_memory_size_for_shapes``)
        and for the profile's largest shape (``device_memory_size_v2``, what a static context
        would have reserved up front).
        """
        max_h, max_w = engine_cache.settings_from_sidecar(self.sidecar).max_hw
        at_max = f'{megabytes(self.max_activation_bytes)} at the profile max {max_w}x{max_h}'
        hw = self._hw
        if hw is None:
            return f'activation memory allocated per frame size (up to {at_max})'
        return (f'activation memory {megabytes(self.activation_bytes)} for {hw[1]}x{hw[0]} '
                f'frames ({at_max})')

    def _driver_name(self) -> str:
        return str(getattr(getattr(self, '_driver', None), 'name', 'cuda'))

    def close(self) -> None:
        if getattr(self, '_closed', True):
            return
        self._closed = True
        try:
            self._thread.run(self._release)
        except Exception as exc:  # closing must not raise into the node's shutdown path
            LOG.warning('%s', failure_message(self._version, 'releasing the engine', exc))
        finally:
            self._thread.shutdown()
