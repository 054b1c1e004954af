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
The seg_ros model contract: what every backend may assume about a model file.

A seg_ros model takes the camera frame as it arrives (uint8 RGB, any size) and returns one class
id per input pixel. Resizing, channel order, normalisation, layout, upsampling and argmax all
live inside the graph, so an ONNX Runtime session and a TensorRT engine built from the same file
give identical labels and the node never touches floats on the CPU.

- input ``image``: uint8 ``[1, H, W, 3]`` RGB, H and W dynamic;
- output ``labels``: uint8 or int32 ``[1, H, W]``;
- optional output ``confidence``: float ``[1, H, W]`` (max softmax);
- metadata_props: ``seg_ros.classes`` (JSON list of names, index = id) and ``seg_ros.palette``
  (JSON list of ``[r, g, b]``), plus optional ``seg_ros.*`` keys listed in ``OPTIONAL_KEYS``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
from typing import Mapping, Optional, Sequence, Union

import numpy as np

INPUT = 'image'
LABELS = 'labels'
CONFIDENCE = 'confidence'

KEY_CLASSES = 'seg_ros.classes'
KEY_PALETTE = 'seg_ros.palette'
KEY_NAME = 'seg_ros.name'
KEY_DATASET = 'seg_ros.dataset'
KEY_INPUT_SIZE = 'seg_ros.input_size'   # JSON [height, width] the network runs at
KEY_SOURCE = 'seg_ros.source'           # where the weights came from (URL, sha256)
KEY_ARCH = 'seg_ros.architecture'
KEY_CONTRACT_VERSION = 'seg_ros.contract_version'
KEY_PRECISION = 'seg_ros.precision'     # fp32 | fp16 | int8 | int8-cpu: the graph's own types
KEY_CALIBRATION = 'seg_ros.calibration'  # int8*: frames, method and content hash calibrated on
KEY_FLOAT_LAYERS = 'seg_ros.int8_float_layers'   # int8: layers kept float32 (sensitivity pass)
KEY_CPU_QUANT = 'seg_ros.int8_cpu'      # int8-cpu: ONNX Runtime format, types, reduce_range
OPTIONAL_KEYS = (KEY_NAME, KEY_DATASET, KEY_INPUT_SIZE, KEY_SOURCE, KEY_ARCH,
                 KEY_CONTRACT_VERSION, KEY_PRECISION, KEY_CALIBRATION, KEY_FLOAT_LAYERS,
                 KEY_CPU_QUANT)
CONTRACT_VERSION = '1'
MAX_CLASSES = 256          # ids must fit the mono8 label image
MAX_NAME_LENGTH = 256      # characters per class name
MAX_INPUT_SIDE = 16384     # pixels, for seg_ros.input_size

# ONNX / ONNX Runtime / TensorRT spell the same dtypes differently; the contract check takes any.
_UINT8 = {'uint8', 'tensor(uint8)', 'UINT8', 2}
_LABEL_TYPES = _UINT8 | {'int32', 'tensor(int32)', 'INT32', 6}
_FLOAT_TYPES = {'float', 'float32', 'float16', 'tensor(float)', 'tensor(float16)', 'FLOAT',
                'HALF', 1, 10}


class ContractError(ValueError):
    """A model file that does not follow the seg_ros contract; the message says what to fix."""


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype (any spelling in the sets above) and shape (ints, names or None) of an I/O."""

    name: str
    dtype: object
    shape: Sequence[object]


@dataclass(frozen=True)
class ModelInfo:
    """What the node needs to know about a model besides running it."""

    classes: tuple[str, ...]
    palette: np.ndarray                     # (num_classes, 3) uint8 RGB
    has_confidence: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def name(self) -> str:
        return self.metadata.get(KEY_NAME, 'unnamed')

    @property
    def input_size(self) -> Optional[tuple[int, int]]:
        """Network (height, width), when the exporter recorded it."""
        raw = self.metadata.get(KEY_INPUT_SIZE)
        if not raw:
            return None
        return _parse_input_size(raw, 'model')


def encode_metadata(classes: Sequence[str],
                    palette: Union[Sequence[Sequence[int]], np.ndarray],
                    **extra: str) -> dict[str, str]:
    """Build metadata_props for an exporter; validates, so a bad table fails at export time."""
    props = {KEY_CLASSES: json.dumps(list(classes)),
             KEY_PALETTE: json.dumps([[int(c) for c in rgb] for rgb in palette]),
             KEY_CONTRACT_VERSION: CONTRACT_VERSION}
    for key, value in extra.items():
        props[key if key.startswith('seg_ros.') else 'seg_ros.' + key] = str(value)
    parse_metadata(props)
    return props


def parse_metadata(props: Mapping[str, str],
                   source: str = 'model') -> tuple[tuple[str, ...], np.ndarray]:
    """Classes and palette from metadata_props, with errors that name the key and the fix."""
    if KEY_CLASSES not in props:
        raise ContractError(
            f'{source}: metadata_props has no "{KEY_CLASSES}" (JSON list of class names); '
            'export it with "seg-ros export" or add the key with onnx.helper.set_model_props')
    try:
        classes = json.loads(props[KEY_CLASSES])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ContractError(f'{source}: "{KEY_CLASSES}" is not valid JSON ({exc})') from exc
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, str) and c for c in classes)):
        raise ContractError(f'{source}: "{KEY_CLASSES}" must be a non-empty JSON list of names')
    if len(classes) > MAX_CLASSES:
        raise ContractError(f'{source}: {len(classes)} classes do not fit the mono8 label image '
                            f'(at most {MAX_CLASSES})')
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise ContractError(f'{source}: duplicate class names in "{KEY_CLASSES}": {dup}')
    if any(len(c) > MAX_NAME_LENGTH for c in classes):
        raise ContractError(f'{source}: class names in "{KEY_CLASSES}" must be at most '
                            f'{MAX_NAME_LENGTH} characters')
    if KEY_PALETTE in props:
        palette = _parse_palette(props[KEY_PALETTE], len(classes), source)
    else:
        palette = default_palette(len(classes))
    if KEY_INPUT_SIZE in props:
        _parse_input_size(props[KEY_INPUT_SIZE], source)
    return tuple(classes), palette


def _parse_palette(raw: str, n: int, source: str) -> np.ndarray:
    """
    Check the palette's JSON as plain values first: n triplets of ints in 0..255.

    Bounded before NumPy sees it, so a huge number or a float is a ContractError naming the key
    rather than an OverflowError from the array conversion.
    """
    expected = (f'{source}: "{KEY_PALETTE}" must hold {n} [r, g, b] triplets of integers in '
                '0..255 (one per class)')
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise ContractError(f'{source}: "{KEY_PALETTE}" is not a JSON list of [r, g, b] '
                            f'({exc})') from exc
    if not isinstance(value, list) or len(value) != n:
        got = f'{len(value)} entries' if isinstance(value, list) else type(value).__name__
        raise ContractError(f'{expected}, got {got}')
    for i, rgb in enumerate(value):
        if (not isinstance(rgb, list) or len(rgb) != 3
                or not all(type(c) is int and 0 <= c <= 255 for c in rgb)):
            raise ContractError(f'{expected}; entry {i} is {str(rgb)[:40]}')
    return np.asarray(value, dtype=np.uint8).reshape(n, 3)


def _parse_input_size(raw: str, source: str) -> tuple[int, int]:
    """Check ``seg_ros.input_size``: JSON [height, width], each in 1..MAX_INPUT_SIDE."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, ValueError, RecursionError):
        value = None
    if (not isinstance(value, list) or len(value) != 2
            or not all(type(v) is int and 1 <= v <= MAX_INPUT_SIDE for v in value)):
        raise ContractError(f'{source}: "{KEY_INPUT_SIZE}" must be a JSON [height, width] of '
                            f'integers in 1..{MAX_INPUT_SIDE}, got {raw[:40]!r}')
    return value[0], value[1]


def default_palette(n: int) -> np.ndarray:
    """Distinct colours for models without a palette (the PASCAL VOC bit-interleaving scheme)."""
    out = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[i] = (r, g, b)
    return out


def check_io(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
             props: Mapping[str, str], source: str = 'model') -> ModelInfo:
    """Validate a model's I/O and metadata against the contract; shared by every backend."""
    by_name = {t.name: t for t in inputs}
    if INPUT not in by_name or len(inputs) != 1:
        raise ContractError(
            f'{source}: expected exactly one input named "{INPUT}" (uint8 [1, H, W, 3] RGB), '
            f'found {[t.name for t in inputs]}; re-export the model with "seg-ros export"')
    image = by_name[INPUT]
    if image.dtype not in _UINT8:
        raise ContractError(f'{source}: input "{INPUT}" must be uint8, got {image.dtype}')
    shape = list(image.shape)
    batch_ok = len(shape) == 4 and (shape[0] in (1, None, -1) or isinstance(shape[0], str))
    if not batch_ok or shape[3] != 3:
        raise ContractError(f'{source}: input "{INPUT}" must be [1, H, W, 3], got {shape}')
    outs = {t.name: t for t in outputs}
    if LABELS not in outs:
        raise ContractError(f'{source}: no output named "{LABELS}" (uint8 or int32 [1, H, W]); '
                            f'found {sorted(outs)}')
    if outs[LABELS].dtype not in _LABEL_TYPES:
        raise ContractError(f'{source}: output "{LABELS}" must be uint8 or int32, '
                            f'got {outs[LABELS].dtype}')
    if len(outs[LABELS].shape) != 3:
        raise ContractError(f'{source}: output "{LABELS}" must be [1, H, W], '
                            f'got {list(outs[LABELS].shape)}')
    has_conf = CONFIDENCE in outs
    if has_conf and outs[CONFIDENCE].dtype not in _FLOAT_TYPES:
        raise ContractError(f'{source}: output "{CONFIDENCE}" must be float, '
                            f'got {outs[CONFIDENCE].dtype}')
    classes, palette = parse_metadata(props, source)
    return ModelInfo(classes=classes, palette=palette, has_confidence=has_conf,
                     metadata=dict(props))


def check_onnx(path: str) -> ModelInfo:
    """Contract check of an ONNX file with the onnx package (no runtime needed)."""
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # onnx raises DecodeError and friends for corrupt files
        raise ContractError(f'{path}: not a readable ONNX file ({exc}); re-export or '
                            're-download it') from exc

    def spec(v: 'onnx.ValueInfoProto') -> TensorSpec:
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField('dim_value') else (d.dim_param or None)
                for d in t.shape.dim]
        return TensorSpec(v.name, t.elem_type, dims)

    init_names = {i.name for i in model.graph.initializer}
    inputs = [spec(v) for v in model.graph.input if v.name not in init_names]
    outputs = [spec(v) for v in model.graph.output]
    props = {p.key: p.value for p in model.metadata_props}
    return check_io(inputs, outputs, props, source=path)
