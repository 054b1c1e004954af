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
Which TensorRT Python names seg_ros touches, per version, and the guards around the rest.

seg_ros supports TensorRT 10.3 (JetPack 6) through 10.x and 11.x. The two differ where it hurts:
TensorRT 11 builds every network strongly typed, so ``BuilderFlag.FP16``/``INT8``, the INT8
calibrators, ``IBuilderConfig.int8_calibrator``, ``set_calibration_profile`` and
``Builder.platform_has_fast_fp16`` are gone; FP16 and INT8 come from the ONNX graph's own types
and Q/DQ nodes (``seg-ros export --precision``).

:data:`USED` lists every TensorRT name the backend and builder touch directly; each must exist
in every supported version. :data:`GUARDED` lists names that exist only in some versions: code
reaches them only through :func:`has` / :func:`get` / :func:`assign`, which fail with an error
naming the running version and what to do instead. ``test/test_trt_api.py`` checks both lists
against the real bindings' attribute listings (``../shared/tensorrt/api/*.json``) and scans the
sources so that a direct use of anything else is caught on a machine without TensorRT.
"""
from __future__ import annotations

import re
from typing import Any, Optional

MIN_VERSION = (10, 3)
MAX_MAJOR = 11

# Module-level name -> the attributes used directly ('' = the name itself). ``__version__`` is
# set by the tensorrt package's Python __init__, not by the bindings the listings describe.
USED: dict[str, tuple[str, ...]] = {
    'Builder': ('create_network', 'create_builder_config', 'create_optimization_profile',
                'build_serialized_network', 'num_DLA_cores'),
    'BuilderFlag': ('GPU_FALLBACK',),
    'DeviceType': ('DLA', 'GPU'),
    'Dims': ('',),
    'ExecutionContextAllocationStrategy': ('USER_MANAGED',),
    'ICudaEngine': ('num_io_tensors', 'get_tensor_name', 'get_tensor_shape', 'get_tensor_dtype',
                    'get_tensor_mode', 'create_execution_context', 'create_engine_inspector',
                    'num_layers', 'device_memory_size_v2'),
    'IExecutionContext': ('set_input_shape', 'get_tensor_shape', 'set_tensor_address',
                          'execute_async_v3', 'update_device_memory_size_for_shapes',
                          'set_device_memory'),
    'IBuilderConfig': ('set_memory_pool_limit', 'add_optimization_profile', 'set_flag',
                       'default_device_type', 'DLA_core', 'create_timing_cache',
                       'set_timing_cache', 'can_run_on_DLA', 'profiling_verbosity'),
    'EngineInspector': ('get_engine_information',),
    'INetworkDefinition': ('num_layers', 'get_layer'),
    'ILayer': ('name', 'type'),
    'IOptimizationProfile': ('set_shape',),
    'ITimingCache': ('serialize',),
    'LayerInformationFormat': ('JSON',),
    'Logger': ('', 'WARNING'),
    'MemoryPoolType': ('WORKSPACE',),
    'NetworkDefinitionCreationFlag': ('STRONGLY_TYPED',),
    'OnnxParser': ('', 'parse_from_file', 'num_errors', 'get_error'),
    'ProfilingVerbosity': ('DETAILED',),
    'Runtime': ('', 'deserialize_cuda_engine', 'DLA_core'),
    'TensorIOMode': ('INPUT',),
}
PYTHON_LEVEL = ('__version__',)

# Names present only in some supported versions: reached only through has()/get()/assign().
GUARDED: dict[str, str] = {
    'Builder.platform_has_fast_fp16': 'TensorRT 11 removed it (strong typing)',
    'BuilderFlag.FP16': 'TensorRT 11 removed it: FP16 comes from the graph (export '
                        '--precision fp16)',
    'BuilderFlag.INT8': 'TensorRT 11 removed it: INT8 comes from Q/DQ nodes (export '
                        '--precision int8 --calib DIR)',
    'IInt8EntropyCalibrator2': 'TensorRT 11 removed implicit INT8 calibration (deprecated '
                               'since 10.1)',
    'IBuilderConfig.int8_calibrator': 'TensorRT 11 removed implicit INT8 calibration',
    'IBuilderConfig.set_calibration_profile': 'TensorRT 11 removed implicit INT8 calibration',
    # The other way round: newer than JetPack 6's 10.3.
    'ICudaEngine.create_runtime_config': 'added after TensorRT 10.3 (10.13 has it); 10.3 takes '
                                         'the allocation strategy in create_execution_context',
    'IRuntimeConfig.set_execution_context_allocation_strategy': 'added after TensorRT 10.3 '
                                                                '(10.13 has it)',
}


class TensorRTVersionError(RuntimeError):
    """The running TensorRT lacks what was asked for; the message names version and fix."""


def version_tuple(text: str) -> tuple[int, ...]:
    """Return the leading numbers of a version string (``'10.3.0.30'`` -> (10, 3, 0, 30))."""
    numbers = re.findall(r'\d+', str(text).split('+')[0])
    return tuple(int(n) for n in numbers) or (0,)


def version_of(trt_module: Any) -> str:
    """Return the running TensorRT version as text ('unknown' when the module has none)."""
    return str(getattr(trt_module, '__version__', 'unknown'))


def check_version(version: str) -> None:
    """Raise TensorRTVersionError for a TensorRT this backend was not written for."""
    parts = version_tuple(version)
    if parts[:2] < MIN_VERSION or parts[0] > MAX_MAJOR:
        raise TensorRTVersionError(
            f'TensorRT {version} is not supported: seg_ros runs TensorRT 10.3 to 11.x (JetPack '
            '6.1/6.2 has 10.3). On older JetPacks (TensorRT 8) use backend: onnxruntime; on a '
            'newer TensorRT check doc/tensorrt.md for an update')


def strongly_typed_only(trt_module: Any) -> bool:
    """Return True where networks are always strongly typed (no FP16 builder flag: 11+)."""
    return not has(trt_module, 'BuilderFlag.FP16')


def _lookup(root: Any, dotted: str) -> tuple[bool, Any]:
    obj = root
    for part in dotted.split('.'):
        if not hasattr(obj, part):
            return False, None
        obj = getattr(obj, part)
    return True, obj


def has(trt_module: Any, dotted: str) -> bool:
    """Return whether the running TensorRT defines ``dotted`` (a GUARDED name)."""
    if dotted not in GUARDED:
        raise KeyError(f'{dotted} is not a guarded TensorRT name; add it to GUARDED')
    return _lookup(trt_module, dotted)[0]


def get(trt_module: Any, dotted: str, what: str = '') -> Any:
    """Return a GUARDED name, or raise TensorRTVersionError naming the version and the fix."""
    found, value = _lookup(trt_module, dotted) if has(trt_module, dotted) else (False, None)
    if not found:
        needed = f' (needed for {what})' if what else ''
        raise TensorRTVersionError(
            f'TensorRT {version_of(trt_module)} has no {dotted}{needed}: {GUARDED[dotted]}. '
            'See doc/tensorrt.md, "TensorRT 10 and 11"')
    return value


def assign(trt_module: Any, obj: Any, dotted: str, value: Any) -> None:
    """Set the GUARDED attribute ``dotted`` (``Class.attr``) on ``obj``, or fail clearly."""
    cls, _, attr = dotted.partition('.')
    get(trt_module, dotted)
    setattr(obj, attr, value)


def call(trt_module: Any, obj: Any, dotted: str, *args: Any) -> Any:
    """Call the GUARDED method ``dotted`` (``Class.method``) on ``obj``, or fail clearly."""
    cls, _, attr = dotted.partition('.')
    get(trt_module, dotted)
    return getattr(obj, attr)(*args)


def dla_note(version: str) -> Optional[str]:
    """Return the DLA caveat for this TensorRT version, if any."""
    if version_tuple(version)[0] >= 11:
        return (f'TensorRT {version}: TensorRT 11 supports the DLA only on JetPack 7.2.2 or '
                'newer; on JetPack 6 use its TensorRT 10.3 for DLA engines')
    return None
