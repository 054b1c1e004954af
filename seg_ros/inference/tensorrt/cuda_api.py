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
The few CUDA calls the TensorRT backend needs, through cuda-python first and pycuda second.

NVIDIA's TensorRT samples use cuda-python (``cuda.bindings``: prebuilt wheels, aarch64
included, no compiler on the robot); pycuda compiles on the Jetson and stays as the fallback for
images that already have it. Both drivers expose the same small surface (device info, one
stream, pinned host and device buffers, async copies) and bind the device's *primary* context,
the one the TensorRT runtime itself uses:

- cuda-python uses the CUDA runtime API (``cudaSetDevice`` makes the primary context current
  in the calling thread; nothing is pushed, so nothing can be left pushed);
- pycuda retains the primary context and pushes/pops it around every call. Its ``detach``
  releases a primary context with ``cuDevicePrimaryCtxRelease``, which never pops it from the
  thread's context stack, so every push is popped by :meth:`PycudaDriver.current` itself, and
  ``detach`` runs on the thread that retained the context: the backend makes every CUDA call,
  ``close`` included, on one thread of its own (:class:`CudaThread`).

With either, the primary context itself stays after ``close`` for the life of the process (the
CUDA runtime, which TensorRT uses, keeps it); see doc/tensorrt.md.

Every CUDA failure is raised as :class:`CudaError` with the call that failed and CUDA's own
error name; the backend turns it into a BackendError naming the TensorRT version and the fix.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import threading
from typing import Any, Callable, Iterator, NamedTuple, Optional, TypeVar

import numpy as np

T = TypeVar('T')

INSTALL_HINT = (
    'install cuda-python matching the CUDA of your TensorRT: on JetPack 6 (CUDA 12.6) '
    'pip install "cuda-python>=12.6,<13"; with TensorRT 11 wheels (CUDA 13) pip install '
    '"cuda-python>=13,<14". pycuda works too (pip install pycuda; it compiles against CUDA)')


class CudaError(RuntimeError):
    """A CUDA call failed or no CUDA binding is importable; the message names the call."""


class DeviceInfo(NamedTuple):
    """
    What tells GPUs apart for an engine: name and compute capability are not enough.

    AGX Orin, Orin NX and Orin Nano all report "Orin" and 8.7; their multiprocessor counts
    (16/14, 8, 8/4) and memory (64/32, 16/8, 8/4 GB) differ, and TensorRT's tactics depend on
    both.
    """

    name: str
    capability: str          # 'major.minor'
    multiprocessors: int     # streaming multiprocessors (SMs)
    total_memory: int        # bytes (on a Jetson: the RAM shared with the CPU)


class CudaThread:
    """
    One thread that owns every CUDA call of a backend: load, each frame, and close.

    The node loads a model in one thread and runs frames in another, and pycuda's contexts
    (and CUDA's current-context stack) are per thread. Funnelling every call through this
    thread keeps the retain/push/pop/release and the stream's creation and destruction on the
    same thread, so ``close`` really frees them. A call costs one thread hand-off.
    """

    def __init__(self, name: str = 'seg_ros-cuda') -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.ident: Optional[int] = self._pool.submit(threading.get_ident).result()

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the owning thread and return its result (or raise its error)."""
        if threading.get_ident() == self.ident:
            return fn(*args)
        return self._pool.submit(fn, *args).result()

    def shutdown(self) -> None:
        """Stop the thread once its queued calls are done."""
        self._pool.shutdown(wait=True)


class CudaPythonDriver:
    """CUDA through cuda-python's runtime bindings (``cuda.bindings.runtime``)."""

    name = 'cuda-python'

    def __init__(self, cudart: Any, device_id: int = 0) -> None:
        self._rt = cudart
        self.device_id = device_id

    def _check(self, call: str, result: Any) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            name = self._rt.cudaGetErrorName(err)
            text = name[1].decode() if isinstance(name, tuple) and len(name) > 1 else str(err)
            raise CudaError(f'{call} failed: {text}')
        return rest[0] if len(rest) == 1 else (tuple(rest) if rest else None)

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """Make the device's primary context current in this thread (nothing to pop)."""
        self._check('cudaSetDevice', self._rt.cudaSetDevice(self.device_id))
        yield

    def device_info(self) -> DeviceInfo:
        """Return the GPU's name, compute capability, multiprocessor count and memory."""
        props = self._check('cudaGetDeviceProperties',
                            self._rt.cudaGetDeviceProperties(self.device_id))
        name = props.name.decode(errors='replace') if isinstance(props.name, bytes) \
            else str(props.name)
        return DeviceInfo(name.split('\x00')[0], f'{props.major}.{props.minor}',
                          int(props.multiProcessorCount), int(props.totalGlobalMem))

    def stream(self) -> Any:
        return self._check('cudaStreamCreate', self._rt.cudaStreamCreate())

    def stream_handle(self, stream: Any) -> int:
        return int(stream)

    def synchronize(self, stream: Any) -> None:
        self._check('cudaStreamSynchronize', self._rt.cudaStreamSynchronize(stream))

    def destroy_stream(self, stream: Any) -> None:
        self._check('cudaStreamDestroy', self._rt.cudaStreamDestroy(stream))

    def host(self, nbytes: int) -> tuple[np.ndarray, Any]:
        """Return pinned host memory as a uint8 array, and the handle to free it with."""
        ptr = self._check('cudaMallocHost', self._rt.cudaMallocHost(nbytes))
        array = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(int(ptr)))
        return array, ptr

    def free_host(self, handle: Any) -> None:
        self._check('cudaFreeHost', self._rt.cudaFreeHost(handle))

    def device(self, nbytes: int) -> Any:
        return self._check('cudaMalloc', self._rt.cudaMalloc(nbytes))

    def address(self, allocation: Any) -> int:
        return int(allocation)

    def free(self, allocation: Any) -> None:
        self._check('cudaFree', self._rt.cudaFree(allocation))

    def htod(self, dst: Any, src: np.ndarray, stream: Any = None) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        if stream is None:
            self._check('cudaMemcpy', self._rt.cudaMemcpy(dst, src.ctypes.data, src.nbytes, kind))
        else:
            self._check('cudaMemcpyAsync', self._rt.cudaMemcpyAsync(
                dst, src.ctypes.data, src.nbytes, kind, stream))

    def dtoh(self, dst: np.ndarray, src: Any, stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check('cudaMemcpyAsync', self._rt.cudaMemcpyAsync(
            dst.ctypes.data, src, dst.nbytes, kind, stream))

    def release(self) -> None:
        """Nothing to release: the runtime API owns the primary context."""


class PycudaDriver:
    """CUDA through pycuda (``pycuda.driver``), pushing the retained primary context."""

    name = 'pycuda'

    def __init__(self, cuda: Any, device_id: int = 0) -> None:
        self._cuda = cuda
        self.device_id = device_id
        cuda.init()
        self._device = cuda.Device(device_id)
        self._ctx: Any = None

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """Push the primary context for the block and pop it after, whatever happens."""
        if self._ctx is None:
            self._ctx = self._device.retain_primary_context()
        self._ctx.push()
        try:
            yield
        finally:
            self._ctx.pop()

    def device_info(self) -> DeviceInfo:
        major, minor = self._device.compute_capability()
        sms = self._device.get_attribute(self._cuda.device_attribute.MULTIPROCESSOR_COUNT)
        return DeviceInfo(str(self._device.name()), f'{major}.{minor}', int(sms),
                          int(self._device.total_memory()))

    def stream(self) -> Any:
        return self._cuda.Stream()

    def stream_handle(self, stream: Any) -> int:
        return int(stream.handle)

    def synchronize(self, stream: Any) -> None:
        stream.synchronize()

    def destroy_stream(self, stream: Any) -> None:
        del stream   # pycuda destroys the stream when its object goes (context is current)

    def host(self, nbytes: int) -> tuple[np.ndarray, Any]:
        array = self._cuda.pagelocked_empty(nbytes, np.uint8)
        return array, array

    def free_host(self, handle: Any) -> None:
        base = getattr(handle, 'base', None)   # pycuda's HostAllocation behind the array
        if base is not None and hasattr(base, 'free'):
            base.free()

    def device(self, nbytes: int) -> Any:
        return self._cuda.mem_alloc(nbytes)

    def address(self, allocation: Any) -> int:
        return int(allocation)

    def free(self, allocation: Any) -> None:
        allocation.free()

    def htod(self, dst: Any, src: np.ndarray, stream: Any = None) -> None:
        if stream is None:
            self._cuda.memcpy_htod(dst, src)
        else:
            self._cuda.memcpy_htod_async(dst, src, stream)

    def dtoh(self, dst: np.ndarray, src: Any, stream: Any) -> None:
        self._cuda.memcpy_dtoh_async(dst, src, stream)

    def release(self) -> None:
        """Release the retained primary context (call on the thread that retained it)."""
        if self._ctx is not None:
            self._ctx.detach()
            self._ctx = None


def import_cudart() -> Any:
    """Return cuda-python's runtime module (new and old layouts), or None."""
    try:
        from cuda.bindings import runtime
        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart  # cuda-python < 12.6 layout
        return cudart
    except ImportError:
        return None


def import_pycuda() -> Any:
    """Return ``pycuda.driver`` or None."""
    try:
        import pycuda.driver as cuda
        return cuda
    except ImportError:
        return None


def open_driver(device_id: int = 0, cudart: Any = None, pycuda: Any = None,
                prefer: str = 'auto') -> Any:
    """
    Return a driver for ``device_id``: cuda-python when importable, else pycuda.

    ``cudart``/``pycuda`` replace the imports (tests pass stand-ins); ``prefer`` forces one
    ('cuda-python' or 'pycuda'). Raises CudaError with the install hint when neither exists
    or CUDA itself fails (no device, driver too old for the bindings).
    """
    cudart = cudart if cudart is not None else (import_cudart() if prefer != 'pycuda' else None)
    if cudart is not None:
        return CudaPythonDriver(cudart, device_id)
    pycuda = pycuda if pycuda is not None else (import_pycuda() if prefer != 'cuda-python'
                                                else None)
    if pycuda is not None:
        try:
            return PycudaDriver(pycuda, device_id)
        except Exception as exc:  # pycuda raises pycuda._driver.Error (not OSError)
            raise CudaError(f'pycuda could not open CUDA device {device_id}: {exc}') from exc
    raise CudaError(f'neither cuda-python nor pycuda is importable; {INSTALL_HINT}')
