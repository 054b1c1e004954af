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
The TensorRT backend's CUDA layer and failure handling, on a machine without a GPU.

cuda-python imports without a GPU and answers every call with CUDA's own error, so its driver is
tested against the real library. pycuda needs a GPU to import at all; its driver is exercised
through a recording stand-in that checks what matters on a robot: contexts pushed are popped,
and the primary context is retained and released on the same thread (defect 5).
"""
import contextlib
import json
import threading
import types

import numpy as np
import pytest

from seg_ros.inference.backend import BackendError, BackendOptions
from seg_ros.inference.tensorrt import backend as trt_backend
from seg_ros.inference.tensorrt import cuda_api, engine_builder, engine_cache as ec


def test_cuda_thread_runs_everything_on_one_thread():
    owner = cuda_api.CudaThread()
    try:
        idents = {owner.run(threading.get_ident) for _ in range(3)}
        other = []
        t = threading.Thread(target=lambda: other.append(owner.run(threading.get_ident)))
        t.start()
        t.join()
        assert idents == {owner.ident} == set(other)
        assert owner.ident != threading.get_ident()
        with pytest.raises(ZeroDivisionError):
            owner.run(lambda: 1 / 0)      # errors come back to the caller
        assert owner.run(lambda: 'alive') == 'alive'
    finally:
        owner.shutdown()


# No machine has this many GPUs: cudaSetDevice fails on every machine, with or without a GPU.
ABSENT_DEVICE = 999


def test_cuda_python_reports_the_failing_call():
    """
    The real cuda-python: a CudaError naming the call and CUDA's error, on any machine.

    Without a GPU every call fails (no driver); with one, device 999 does not exist and no
    device can allocate 2**62 bytes, so the same calls fail there too.
    """
    rt = cuda_api.import_cudart()
    if rt is None:
        pytest.skip('cuda-python not installed (pip install "cuda-python>=12.6,<13")')
    driver = cuda_api.open_driver(ABSENT_DEVICE)
    assert isinstance(driver, cuda_api.CudaPythonDriver) and driver.name == 'cuda-python'
    with pytest.raises(cuda_api.CudaError) as err:
        with driver.current():
            pass
    assert str(err.value).startswith('cudaSetDevice failed: cudaError')
    with pytest.raises(cuda_api.CudaError, match='^cudaMalloc failed: cudaError'):
        driver.device(1 << 62)


def test_cuda_python_device_info_reads_what_tells_orin_modules_apart():
    """Issue 17 defect 5: the real cudaDeviceProp fields, filled as an Orin NX 16GB reports."""
    rt = cuda_api.import_cudart()
    if rt is None:
        pytest.skip('cuda-python not installed (pip install "cuda-python>=12.6,<13")')
    props = rt.cudaDeviceProp()
    props.name = b'Orin'.ljust(256, b'\0')
    props.major, props.minor = 8, 7
    props.multiProcessorCount, props.totalGlobalMem = 8, 16_416_014_336

    class Cudart:   # the real runtime module, answering for a device this machine lacks

        def __getattr__(self, name):
            return getattr(rt, name)

        def cudaGetDeviceProperties(self, device):  # noqa: N802 (CUDA's name)
            return rt.cudaError_t.cudaSuccess, props

    driver = cuda_api.CudaPythonDriver(Cudart(), 0)
    info = driver.device_info()
    assert info == ('Orin', '8.7', 8, 16_416_014_336)
    platform = engine_builder.platform_for(types.SimpleNamespace(__version__='10.3.0.30'),
                                           _NoContext(driver))
    assert platform == ec.Platform('10.3.0.30', 'Orin', '8.7', 8, 15)


class _NoContext:
    """A driver whose current() does nothing (cudaSetDevice needs a device)."""

    def __init__(self, driver):
        self._driver = driver

    @contextlib.contextmanager
    def current(self):
        yield

    def device_info(self):
        return self._driver.device_info()


def test_no_binding_names_both_and_the_pins(monkeypatch):
    monkeypatch.setattr(cuda_api, 'import_cudart', lambda: None)
    monkeypatch.setattr(cuda_api, 'import_pycuda', lambda: None)
    with pytest.raises(cuda_api.CudaError) as err:
        cuda_api.open_driver(0)
    text = str(err.value)
    assert 'neither cuda-python nor pycuda' in text and '"cuda-python>=12.6,<13"' in text


class RecordingPycuda:
    """pycuda.driver's surface as the driver uses it, recording each call and its thread."""

    class Error(Exception):
        """pycuda._driver.Error is not an OSError."""

    def __init__(self, fail_init: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail_init = fail_init
        self.depth = 0

    def _log(self, what: str) -> None:
        self.calls.append((what, threading.get_ident()))

    def init(self) -> None:
        if self.fail_init:
            raise RecordingPycuda.Error('cuInit failed: no CUDA-capable device is detected')

    def Device(self, index: int) -> 'RecordingPycuda':   # noqa: N802 (pycuda's name)
        return self

    def retain_primary_context(self) -> 'RecordingPycuda':
        self._log('retain')
        return self

    def push(self) -> None:
        self.depth += 1
        self._log('push')

    def pop(self) -> None:
        self.depth -= 1
        self._log('pop')

    def detach(self) -> None:
        assert self.depth == 0, 'detach of a primary context does not pop: pop first'
        self._log('detach')

    def compute_capability(self) -> tuple[int, int]:
        return 8, 7

    class device_attribute:  # noqa: N801 (pycuda's name)
        MULTIPROCESSOR_COUNT = 'MULTIPROCESSOR_COUNT'

    def get_attribute(self, attribute: str) -> int:
        return {'MULTIPROCESSOR_COUNT': 8}[attribute]

    def total_memory(self) -> int:
        return 7_990_000_000

    def name(self) -> str:
        return 'Orin (stand-in)'


def test_pycuda_contexts_are_balanced_and_released_by_their_thread():
    cuda = RecordingPycuda()
    owner = cuda_api.CudaThread()
    try:
        driver = owner.run(cuda_api.PycudaDriver, cuda, 0)

        def work() -> str:
            with driver.current():
                name, cc, sms, memory = driver.device_info()
                assert (sms, memory) == (8, 7_990_000_000)
            with pytest.raises(RuntimeError):
                with driver.current():
                    raise RuntimeError('TensorRT failed mid-frame')
            return f'{name} {cc}'

        assert owner.run(work) == 'Orin (stand-in) 8.7'
        assert cuda.depth == 0                         # nothing left pushed, even on error
        done = []
        closer = threading.Thread(target=lambda: done.append(owner.run(driver.release)))
        closer.start()                                 # close() called from another thread
        closer.join()
        threads = dict(cuda.calls)
        assert threads['detach'] == threads['retain'] == owner.ident
        assert [c for c, _ in cuda.calls].count('detach') == 1
    finally:
        owner.shutdown()


def test_pycuda_init_failure_becomes_a_cuda_error():
    with pytest.raises(cuda_api.CudaError) as err:
        cuda_api.open_driver(0, pycuda=RecordingPycuda(fail_init=True), prefer='pycuda')
    assert 'no CUDA-capable device' in str(err.value)


def test_failure_messages_name_version_and_fix():
    text = trt_backend.failure_message('11.4.0.106', 'inference', AttributeError('x'))
    assert text.startswith('TensorRT 11.4.0.106: inference failed (AttributeError: x)')
    assert '10.3 to 11.x' in text
    text = trt_backend.failure_message('10.3.0.30', 'loading m.onnx',
                                       cuda_api.CudaError('cudaMalloc failed: OOM'))
    assert 'TensorRT 10.3.0.30' in text and 'cuda-python' in text
    text = trt_backend.failure_message('10.3.0.30', 'inference',
                                       RecordingPycuda.Error('launch failed'))
    assert 'restart the node' in text and 'backend: onnxruntime' in text


def test_engine_tensor_types_map_to_numpy():
    assert trt_backend.numpy_dtype('UINT8') == np.uint8
    assert trt_backend.numpy_dtype('INT32') == np.int32
    assert trt_backend.numpy_dtype('HALF') == np.float16
    with pytest.raises(BackendError, match='BF16'):
        trt_backend.numpy_dtype('BF16')


def test_node_dla_option_builds_a_static_profile():
    settings = trt_backend.settings_from_options(BackendOptions(dla_core=0))
    assert settings.min_hw == settings.opt_hw == settings.max_hw == ec.DEFAULT_OPT
    settings.validate()
    gpu = trt_backend.settings_from_options(BackendOptions())
    assert gpu.min_hw == ec.DEFAULT_MIN and gpu.max_hw == ec.DEFAULT_MAX


def test_gpu_fallback_layers_from_the_engine_inspector():
    info = {'Layers': [
        {'Name': '{ForeignNode[/net/conv1/Conv.../net/head/Conv]}', 'LayerType': 'DLA'},
        {'Name': '/Cast', 'LayerType': 'Cast'},
        {'Name': '/Resize_1', 'LayerType': 'Resize'},
        'Reformatting CopyNode for Input Tensor 0 to /ArgMax'],
        'Bindings': ['image', 'labels']}
    assert engine_builder.gpu_layers(json.dumps(info)) == [
        '/Cast', '/Resize_1', 'Reformatting CopyNode for Input Tensor 0 to /ArgMax']
    assert engine_builder.gpu_layers('not json') == []


def test_backend_load_failure_names_the_tensorrt_version(monkeypatch, tmp_path):
    """
    Defect 2: a CUDA failure while loading is a BackendError, never a bare driver error.

    A stand-in module with the version of JetPack 6's TensorRT takes TensorRT's place (the
    test runs the same where TensorRT is installed); CUDA is the real cuda-python, asked for a
    device no machine has, so cudaSetDevice fails with or without a GPU. The backend's CUDA
    thread is gone afterwards.
    """
    import types

    from seg_ros.inference.tensorrt.backend import TensorRTBackend
    from seg_ros.testing import synthetic

    if cuda_api.import_cudart() is None:
        pytest.skip('cuda-python not installed')
    stand_in = types.SimpleNamespace(__version__='10.3.0.30', Builder=object)
    monkeypatch.setattr(engine_builder, 'import_tensorrt', lambda: stand_in)
    model = synthetic.save_passthrough(str(tmp_path / 'm.onnx'), ['a', 'b'])
    before = threading.active_count()
    with pytest.raises(BackendError) as err:
        TensorRTBackend(model, BackendOptions(device_id=ABSENT_DEVICE))
    text = str(err.value)
    assert text.startswith('TensorRT 10.3.0.30: loading ') and 'cudaSetDevice failed' in text
    assert 'check the CUDA driver and device' in text
    assert threading.active_count() == before

    def missing_bindings(device_id: int) -> None:
        raise engine_builder.EngineBuildError('neither cuda-python nor pycuda is importable')

    with pytest.raises(BackendError, match='^TensorRT 10.3.0.30: neither cuda-python'):
        TensorRTBackend(model, BackendOptions(), driver_factory=missing_bindings)
