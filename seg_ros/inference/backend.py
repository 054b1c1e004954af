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
import os
from typing import Optional

import numpy as np

from seg_ros.common.share import share_path
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

    def close(self) -> None:
        """Release runtime resources (GPU memory, sessions)."""


def check_frame(rgb: np.ndarray) -> np.ndarray:
    """Make a frame safe to hand to a runtime (uint8, (H, W, 3), C-contiguous, batch of one)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected a (H, W, 3) uint8 RGB frame, got {rgb.dtype} {rgb.shape}')
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f'empty frame {rgb.shape[1]}x{rgb.shape[0]}')
    return np.ascontiguousarray(rgb)[None]


def resolve_model_path(path: str) -> str:
    """
    Find a model given as an absolute path, relative to the working directory, or by file name.

    A bare name (``espnet_camvid.onnx``) is also looked up in the installed package's
    ``share/seg_ros/engines/``, where built engines live on a robot, so launch files can name
    models without knowing the install prefix.
    """
    if not path or os.path.isabs(path) or os.path.exists(path):
        return path
    try:
        return str(share_path('engines', path))
    except FileNotFoundError:
        return path


def create_backend(kind: str, model_path: str,
                   options: Optional[BackendOptions] = None) -> Backend:
    """Load ``model_path`` with the named backend; errors say which file or option is wrong."""
    options = options or BackendOptions()
    if kind not in BACKENDS:
        raise BackendError(f'unknown backend "{kind}"; choose one of {", ".join(BACKENDS)}')
    if not model_path:
        raise BackendError('no model given: set the "model_path" parameter to a .onnx file '
                           '(make one with "seg-ros export espnet_camvid -o model.onnx")')
    if not os.path.isfile(model_path):
        raise BackendError(f'model file not found: {model_path}; check the "model_path" '
                           'parameter (make one with "seg-ros export NAME -o FILE.onnx")')
    if kind == 'onnxruntime':
        if model_path.endswith('.engine'):
            raise BackendError(f'{model_path} is a TensorRT engine; set backend: tensorrt')
        from seg_ros.inference.onnxruntime_backend import OnnxRuntimeBackend
        return OnnxRuntimeBackend(model_path, options)
    from seg_ros.inference.tensorrt.backend import TensorRTBackend
    return TensorRTBackend(model_path, options)
