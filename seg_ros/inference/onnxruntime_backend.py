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

"""ONNX Runtime backend: CPU everywhere; CUDA and TensorRT providers with onnxruntime-gpu."""
from __future__ import annotations

import os
from typing import Any, Optional
import warnings

import numpy as np

from seg_ros.inference import contract
from seg_ros.inference.backend import (Backend, BackendError, BackendOptions, check_frame,
                                       Segmentation)


def _providers(options: BackendOptions, available: list[str]) -> list[Any]:
    """Choose providers in preference order; GPU ones only when asked for and installed."""
    chosen: list[Any] = []
    if options.device == 'cuda':
        if 'TensorrtExecutionProvider' in available:
            cache = options.engine_cache_dir or os.path.join(
                os.path.expanduser('~'), '.cache', 'seg_ros', 'ort_trt')
            trt_options: dict[str, Any] = {
                'device_id': options.device_id,
                'trt_fp16_enable': bool(options.fp16),
                'trt_engine_cache_enable': True,
                'trt_engine_cache_path': cache,
                # Without a path ORT writes the timing cache into the working directory.
                'trt_timing_cache_enable': True,
                'trt_timing_cache_path': cache,
            }
            if options.dla_core >= 0:
                trt_options.update(trt_dla_enable=True, trt_dla_core=options.dla_core)
            chosen.append(('TensorrtExecutionProvider', trt_options))
        if 'CUDAExecutionProvider' in available:
            chosen.append(('CUDAExecutionProvider', {'device_id': options.device_id}))
        if not chosen:
            raise BackendError(
                'backend_options.device is "cuda" but this onnxruntime has no CUDA or TensorRT '
                f'provider (available: {available}); install onnxruntime-gpu or set device: cpu')
    chosen.append('CPUExecutionProvider')
    return chosen


def _labels_only(model_path: str) -> bytes:
    """Return the model reduced to the nodes that ``labels`` needs, serialised."""
    import onnx
    import onnx.utils

    model = onnx.load(model_path)
    return onnx.utils.Extractor(model).extract_model([contract.INPUT],
                                                     [contract.LABELS]).SerializeToString()


class OnnxRuntimeBackend(Backend):
    """Runs a contract model in an ``onnxruntime.InferenceSession``."""

    name = 'onnxruntime'

    def __init__(self, model_path: str, options: BackendOptions) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        if options.threads > 0:
            so.intra_op_num_threads = options.threads
            so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = _providers(options, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(model_path, so, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for corrupt/unsupported
            raise BackendError(f'cannot load model {model_path}: {exc}. Is it a valid .onnx '
                               'file? Re-export it with "seg-ros export".') from exc

        def spec(arg: Any) -> contract.TensorSpec:
            return contract.TensorSpec(arg.name, arg.type, list(arg.shape))

        try:
            info = contract.check_io([spec(i) for i in self.session.get_inputs()],
                                     [spec(o) for o in self.session.get_outputs()],
                                     self.session.get_modelmeta().custom_metadata_map,
                                     source=model_path)
        except contract.ContractError as exc:
            raise BackendError(str(exc)) from exc
        super().__init__(info, model_path)
        precision = info.metadata.get(contract.KEY_PRECISION, '')
        if precision == 'int8-cpu' and options.device == 'cuda':
            warnings.warn(f'{model_path} is an int8-cpu export (the CPU quantized form of ONNX '
                          'Runtime): the GPU providers run little of it and TensorRT none; '
                          'export with --precision int8 for TensorRT / the GPU')
        fetch_confidence = info.has_confidence and options.confidence
        if info.has_confidence and not fetch_confidence:
            # ONNX Runtime runs every node of the graph whatever outputs are fetched, so cut the
            # confidence branch out (measured: 76 -> 66 ms per 640x480 ESPNet frame). That
            # needs the onnx package, which has no rosdep key: without it the full graph runs.
            try:
                labels_only = _labels_only(model_path)
            except ImportError:
                labels_only = None
            if labels_only is not None:
                self.session = ort.InferenceSession(labels_only, so, providers=providers)
        self._outputs = [contract.LABELS] + ([contract.CONFIDENCE] if fetch_confidence else [])
        self._last_pixels = 0
        self._run: Optional[Any] = None   # the RunOptions of the run in flight

    def infer(self, rgb: np.ndarray) -> Segmentation:
        batch = check_frame(rgb)
        run = self._run = self._run_options(rgb.shape[0] * rgb.shape[1])
        try:
            result = self.session.run(self._outputs, {contract.INPUT: batch}, run)
        finally:
            self._run = None
        labels = result[0][0]
        if labels.dtype != np.uint8:
            labels = labels.astype(np.uint8)
        confidence = result[1][0].astype(np.float32, copy=False) if len(result) > 1 else None
        return Segmentation(labels=labels, confidence=confidence)

    def _run_options(self, pixels: int) -> Any:
        """
        Options of one run (interruptible); shrink the CPU arena after a frame-size jump.

        The arena is released after a run whose frame size jumped (2x or more either way).

        ORT's arena keeps its largest allocation for good: one 4000x3000 frame through a
        network that upsamples its logits left the process at 1 GB (measured: 146 MB -> 1018
        MB, and still 1018 MB on 640x480 frames after it). Shrinking on every run would cost
        re-allocation each frame; shrinking when the size changes frees an outlier's memory at
        once and a steady stream of big frames keeps its arena (measured with shrinkage: 80 MB
        after the big frame, 111 MB on 640x480 frames after it).
        """
        import onnxruntime as ort

        options = ort.RunOptions()
        # A run cut short by interrupt() is an expected end, not an error for ORT's log (the
        # exception still reaches the caller, which reports real failures itself).
        options.log_severity_level = 4
        last, self._last_pixels = self._last_pixels, pixels
        if last and not (pixels < 2 * last and last < 2 * pixels):
            options.add_run_config_entry('memory.enable_memory_arena_shrinkage', 'cpu:0')
        return options

    def interrupt(self) -> bool:
        """Set the terminate flag of the run in flight: ORT checks it between graph nodes."""
        run = self._run
        if run is not None:
            run.terminate = True
        return True

    def describe(self) -> str:
        return f'onnxruntime ({", ".join(self.session.get_providers())})'
