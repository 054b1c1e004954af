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
Stand-ins for the parts of TensorRT and CUDA that need a GPU, to drive the TensorRT backend here.

- :class:`FakeGpu` is a CUDA driver (the surface of ``cuda_api.CudaPythonDriver``) over a GPU
  of a given memory size: an allocation that does not fit fails as cudaMalloc does
  (``cudaErrorMemoryAllocation``), a host allocation can be made to fail on demand, and any use
  of freed memory (a copy, an engine run against a freed address, a double free) raises
  :class:`UseAfterFree`, so a test sees a bug a real GPU would turn into a segfault.
- :func:`tensorrt_module` is a ``tensorrt`` module for one version, built from the real
  bindings' attribute listings (``../shared/tensorrt/api``), with working Logger, Runtime,
  engine and execution context for the contract's pass-through model (labels = red channel,
  confidence = red / 4). Every method the doubles define must exist in that version's listing,
  so the backend cannot pass here by calling something the real version lacks.

The engine follows TensorRT's memory rules as documented: ``create_execution_context()``
(``STATIC``) reserves the activation memory of the profile's largest shape from the GPU and
returns None when it does not fit; ``USER_MANAGED`` reserves nothing, the size for the current
shapes comes from ``update_device_memory_size_for_shapes()`` and the memory from
``set_device_memory()``. The activation size is the full-frame float logits plus 1 MiB.
"""
import contextlib
import json
from pathlib import Path
import types
from typing import Any, Optional

import numpy as np

from seg_ros.common.share import assets_dir
from seg_ros.inference.tensorrt import cuda_api

ROOT = Path(__file__).resolve().parents[1]

MIB = 1 << 20


class UseAfterFree(AssertionError):
    """Freed GPU or pinned memory was used: a segfault or silent corruption on a real GPU."""


class FakeGpu:
    """A CUDA driver over ``memory`` bytes of device memory (and as much pinned host memory)."""

    name = 'cuda-python'

    def __init__(self, memory: int, gpu_name: str = 'Orin', capability: str = '8.7',
                 multiprocessors: int = 8) -> None:
        self.memory = memory
        self.device_id = 0
        self.info = cuda_api.DeviceInfo(gpu_name, capability, multiprocessors, memory)
        self.live: dict[int, np.ndarray] = {}        # device address -> its bytes
        self.freed: set[int] = set()
        self.hosts: dict[int, np.ndarray] = {}       # host handle -> pinned array
        self.fail_host = False                       # next host() fails (cudaMallocHost)
        self._next = 0x7f0000000000

    # What the backend calls (cuda_api.CudaPythonDriver's surface).

    @contextlib.contextmanager
    def current(self) -> Any:
        yield

    def device_info(self) -> cuda_api.DeviceInfo:
        return self.info

    def used(self) -> int:
        return sum(a.nbytes for a in self.live.values())

    def device(self, nbytes: int) -> int:
        if self.used() + nbytes > self.memory:
            raise cuda_api.CudaError('cudaMalloc failed: cudaErrorMemoryAllocation')
        address = self._next
        self._next += (nbytes + 255) // 256 * 256 + 256    # never reused: a stale one shows
        self.live[address] = np.zeros(nbytes, np.uint8)
        return address

    def address(self, allocation: int) -> int:
        return int(allocation)

    def free(self, allocation: int) -> None:
        if allocation not in self.live:
            raise UseAfterFree(f'cudaFree of {allocation:#x}, which is not allocated')
        del self.live[allocation]
        self.freed.add(allocation)

    def host(self, nbytes: int) -> tuple[np.ndarray, int]:
        if self.fail_host:
            raise cuda_api.CudaError('cudaMallocHost failed: cudaErrorMemoryAllocation')
        array = np.zeros(nbytes, np.uint8)
        handle = self._next
        self._next += 256
        self.hosts[handle] = array
        return array, handle

    def free_host(self, handle: Optional[int]) -> None:
        if handle not in self.hosts:
            raise UseAfterFree(f'cudaFreeHost of {handle}, which is not allocated')
        del self.hosts[handle]

    def _pinned(self, array: np.ndarray, what: str) -> None:
        if not any(np.shares_memory(array, h) for h in self.hosts.values()):
            raise UseAfterFree(f'{what} through freed (or unpinned) host memory')

    def _memory(self, address: int, nbytes: int, what: str) -> np.ndarray:
        if address not in self.live:
            raise UseAfterFree(f'{what} at {address:#x}, which is freed or was never allocated')
        memory = self.live[address]
        if memory.nbytes < nbytes:
            raise UseAfterFree(f'{what}: {nbytes} bytes into a {memory.nbytes}-byte buffer')
        return memory

    def htod(self, dst: int, src: np.ndarray, stream: Any = None) -> None:
        self._pinned(src, 'host-to-device copy')
        self._memory(dst, src.nbytes, 'host-to-device copy')[:src.nbytes] = \
            src.reshape(-1).view(np.uint8)

    def dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None:
        self._pinned(dst, 'device-to-host copy')
        dst.reshape(-1).view(np.uint8)[:] = self._memory(src, dst.nbytes,
                                                         'device-to-host copy')[:dst.nbytes]

    def stream(self) -> int:
        return 1

    def stream_handle(self, stream: int) -> int:
        return stream

    def synchronize(self, stream: int) -> None:
        pass

    def destroy_stream(self, stream: int) -> None:
        pass

    def release(self) -> None:
        pass


def engine_bytes(num_classes: int, confidence: bool = True) -> bytes:
    """Return what the stand-in Runtime deserializes: the model's class count and outputs."""
    return json.dumps({'classes': num_classes, 'confidence': confidence}).encode()


def activation_for(num_classes: int, height: int, width: int) -> int:
    """Return the stand-in engine's activation memory: full-frame float logits + 1 MiB."""
    return num_classes * height * width * 4 + MIB


class _DataType:

    def __init__(self, name: str) -> None:
        self.name = name


class FakeContext:
    """IExecutionContext for the pass-through model, checking every address it runs against."""

    def __init__(self, engine: 'FakeEngine', user_managed: bool) -> None:
        self._engine = engine
        self._gpu = engine.gpu
        self.user_managed = user_managed
        self.shape: Optional[tuple[int, ...]] = None
        self.addresses: dict[str, int] = {}
        self.memory: Optional[tuple[int, int]] = None
        self.required = 0
        self.refuse_addresses = False     # set_tensor_address answers False (a TensorRT bug)

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        assert name == 'image'
        self.shape = tuple(int(d) for d in shape)
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        assert self.shape is not None, 'get_tensor_shape before set_input_shape'
        return self.shape if name == 'image' else self.shape[:3]

    def set_tensor_address(self, name: str, address: int) -> bool:
        if self.refuse_addresses:
            return False
        self.addresses[name] = int(address)
        return True

    def update_device_memory_size_for_shapes(self) -> int:
        assert self.shape is not None, 'update_device_memory_size_for_shapes before the shapes'
        self.required = activation_for(self._engine.classes, self.shape[1], self.shape[2])
        return self.required

    def set_device_memory(self, memory: int, size: int) -> None:
        self.memory = (int(memory), int(size))

    def execute_async_v3(self, stream_handle: int) -> bool:
        assert self.shape is not None
        _, h, w, _ = self.shape
        if self.user_managed:
            if self.memory is None or self.memory[1] < self.required:
                raise UseAfterFree(f'execute_async_v3 with activation memory {self.memory} '
                                   f'for {self.required} bytes')
            if self.memory[1]:
                self._gpu._memory(self.memory[0], self.memory[1], 'activation memory')
        image = self._gpu._memory(self.addresses['image'], h * w * 3, 'input "image"')
        red = image[:h * w * 3].reshape(h, w, 3)[:, :, 0]
        labels = self._gpu._memory(self.addresses['labels'], h * w, 'output "labels"')
        labels[:h * w] = red.reshape(-1)
        if self._engine.confidence:
            conf = self._gpu._memory(self.addresses['confidence'], h * w * 4,
                                     'output "confidence"')
            conf[:h * w * 4] = (red.astype(np.float32) / 4).reshape(-1).view(np.uint8)
        return True


class FakeEngine:
    """ICudaEngine of the pass-through model: uint8 image in, uint8 labels (+ confidence) out."""

    def __init__(self, gpu: FakeGpu, classes: int, confidence: bool, max_hw: tuple[int, int],
                 module: Any) -> None:
        self.gpu = gpu
        self.classes = classes
        self.confidence = confidence
        self._module = module
        self._names = ['image', 'labels'] + (['confidence'] if confidence else [])
        self.device_memory_size_v2 = activation_for(classes, *max_hw)
        self.fail_context = False         # create_execution_context returns None
        self.contexts: list[FakeContext] = []

    @property
    def num_io_tensors(self) -> int:
        return len(self._names)

    def get_tensor_name(self, index: int) -> str:
        return self._names[index]

    def get_tensor_shape(self, name: str) -> list[int]:
        return [1, -1, -1, 3] if name == 'image' else [1, -1, -1]

    def get_tensor_dtype(self, name: str) -> _DataType:
        return _DataType({'image': 'UINT8', 'labels': 'UINT8'}.get(name, 'FLOAT'))

    def get_tensor_mode(self, name: str) -> str:
        modes = self._module.TensorIOMode
        return modes.INPUT if name == 'image' else modes.OUTPUT

    def create_runtime_config(self) -> types.SimpleNamespace:
        config = types.SimpleNamespace(strategy=self._module.ExecutionContextAllocationStrategy
                                       .STATIC)

        def set_strategy(strategy: Any) -> None:
            config.strategy = strategy

        config.set_execution_context_allocation_strategy = set_strategy
        return config

    def create_execution_context(self, strategy: Any = None) -> Optional[FakeContext]:
        strategies = self._module.ExecutionContextAllocationStrategy
        if isinstance(strategy, types.SimpleNamespace):     # an IRuntimeConfig
            strategy = strategy.strategy
        strategy = strategies.STATIC if strategy is None else strategy
        if self.fail_context:
            return None
        if strategy == strategies.STATIC:
            try:    # TensorRT reserves the largest shape's activation memory up front
                self.gpu.device(self.device_memory_size_v2)
            except cuda_api.CudaError:
                return None
        context = FakeContext(self, user_managed=strategy == strategies.USER_MANAGED)
        self.contexts.append(context)
        return context


def load_listing(version: str) -> Optional[dict]:
    """Return the real bindings' attribute listing of ``version`` (None: assets missing)."""
    folder = (assets_dir() or ROOT.parent / 'shared') / 'tensorrt' / 'api'
    path = folder / f'{version}.json'
    return json.loads(path.read_text()) if path.is_file() else None


def tensorrt_module(listing: dict, version: str, gpu: FakeGpu,
                    max_hw: tuple[int, int] = (1080, 1920),
                    fail_context: bool = False) -> types.SimpleNamespace:
    """
    Return a ``tensorrt`` stand-in for ``version``: its listing's names, with a working runtime.

    Names the listing lacks are absent (``hasattr`` answers as the real bindings do); the
    engine and context doubles may only define methods their class has in the listing.
    """
    module = types.SimpleNamespace(__version__=version)
    for name, attrs in listing.items():
        if isinstance(attrs, list):
            setattr(module, name, types.SimpleNamespace(**{a: f'{name}.{a}' for a in attrs}))
    for cls, double in (('ICudaEngine', FakeEngine), ('IExecutionContext', FakeContext)):
        extra = {a for a in vars(double) if not a.startswith('_')} - set(listing[cls])
        if version.startswith('10.3'):
            extra.discard('create_runtime_config')   # 10.13+; raises on a 10.3 engine below
        assert not extra, f'the {cls} double defines {extra}, which TensorRT {version} lacks'
    engines: list[FakeEngine] = []

    class Logger:
        WARNING = 'WARNING'

        def __init__(self, severity: str) -> None:
            self.severity = severity

    class Runtime:

        def __init__(self, logger: Logger) -> None:
            self.DLA_core = -1

        def deserialize_cuda_engine(self, data: bytes) -> FakeEngine:
            spec = json.loads(bytes(data))
            engine = FakeEngine(gpu, spec['classes'], spec['confidence'], max_hw, module)
            engine.fail_context = fail_context
            if not hasattr(module.ICudaEngine, 'create_runtime_config'):
                def missing() -> None:
                    raise AttributeError(f"TensorRT {version}'s ICudaEngine has no "
                                         'create_runtime_config')

                engine.create_runtime_config = missing   # type: ignore[method-assign]
            engines.append(engine)
            return engine

    module.Logger, module.Runtime = Logger, Runtime
    module.engines = engines
    return module
