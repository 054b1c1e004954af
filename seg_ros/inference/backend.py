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
Inference backends behind one small interface, so the node never knows which runtime it drives.

Every backend takes a contiguous uint8 RGB frame ``(H, W, 3)`` and returns uint8 labels
``(H, W)`` (plus ``confidence`` when the model has it). Pre- and post-processing live in the
model graph (see :mod:`seg_ros.inference.contract`), so a backend is only the runtime's call
sequence.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Optional

import numpy as np

from seg_ros.inference.contract import ModelInfo

BACKENDS = ('onnxruntime', 'tensorrt')


class BackendError(RuntimeError):
    """A model or runtime problem; the message names the file or setting and how to fix it."""


@dataclass(frozen=True)
class Segmentation:
    """One frame's result."""

    labels: np.ndarray                      # (H, W) uint8 class ids
    confidence: Optional[np.ndarray] = None  # (H, W) float32 max softmax, when the model has it


@dataclass(frozen=True)
class BackendOptions:
    """Runtime knobs shared by all backends (the node's parameters of the same names)."""

    threads: int = 0                     # intra-op threads for CPU execution; 0 = runtime default
    device: str = 'cpu'                  # 'cpu', 'cuda' (ONNX Runtime CUDA/TensorRT providers)
    device_id: int = 0
    fp16: bool = True                    # TensorRT / ORT-TensorRT precision
    engine_cache_dir: str = ''           # where TensorRT engines are cached; '' = next to model
    dla_core: int = -1                   # Jetson Orin DLA core for TensorRT (GPU fallback); -1 off
    confidence: bool = True              # fetch the model's confidence output (4 B/pixel more)


class Backend(abc.ABC):
    """One loaded model. Not thread-safe: the node calls it from a single worker thread."""

    name: str = 'abstract'

    def __init__(self, info: ModelInfo, model_path: str) -> None:
        self.info = info
        self.model_path = model_path

    @abc.abstractmethod
    def infer(self, rgb: np.ndarray) -> Segmentation:
        """Segment one ``(H, W, 3)`` uint8 RGB frame."""

    def describe(self) -> str:
        """One line for logs and diagnostics (runtime, device, providers)."""
        return self.name

    def hardware(self) -> str:
        """
        Name what runs the model, for ``DiagnosticStatus.hardware_id``.

        Unlike :meth:`describe` it must not change from frame to frame (monitors group
        statuses by it), so it leaves out figures such as the activation memory per frame size.
        """
        return self.describe()

    def memory(self) -> str:
        """Accelerator memory the backend holds for the current frame size ('' if none)."""
        return ''

    def close(self) -> None:
        """Release runtime resources (GPU memory, sessions)."""

    def interrupt(self) -> bool:
        """
        Ask an inference running on another thread to give up now; False if it cannot.

        The node calls it when it must stop (shutdown, deactivate) and the frame in flight takes
        longer than it can wait: the runtime's session must never be closed under a running
        inference, so the run has to end first. The interrupted :meth:`infer` raises.
        """
        return False


def check_frame(rgb: np.ndarray) -> np.ndarray:
    """Make a frame safe to hand to a runtime (uint8, (H, W, 3), C-contiguous, batch of one)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected a (H, W, 3) uint8 RGB frame, got {rgb.dtype} {rgb.shape}')
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f'empty frame {rgb.shape[1]}x{rgb.shape[0]}')
    return np.ascontiguousarray(rgb)[None]
