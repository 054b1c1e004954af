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
Bring your own model: a foreign segmentation ONNX file -> a checked seg_ros model file.

:func:`wrap_onnx` is what ``seg-ros wrap`` runs. It finds the model's image input and
segmentation output (:func:`seg_ros.zoo.foreign.inspect`), names the classes (a file, a Hugging
Face ``config.json`` or a dataset preset whose count must match the model's), puts the graph
inside the contract's pre- and post-processing (:func:`seg_ros.zoo.foreign.build_contract_graph`)
and then proves the result before writing it:

- agreement: a few frames through the wrapped graph in ONNX Runtime against the foreign model
  run through ONNX Runtime between the same pre- and post-processing done in NumPy; the labels
  must agree on at least :data:`MIN_AGREEMENT` of the pixels, or nothing is written;
- then the zoo exporter's own tail (:func:`seg_ros.zoo.export.finish`): metadata, ONNX checker,
  optional onnxslim, the fp16/int8 conversion, the TensorRT operator-table check and the atomic
  write with the contract check.

The metadata records provenance: the source file's sha256 and every wrap option.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union
import warnings

import numpy as np

from seg_ros.common.files import sha256_file
from seg_ros.inference import contract
from seg_ros.zoo import export, foreign
from seg_ros.zoo.datasets.ade20k import ADE20K_CLASSES, ADE20K_PALETTE
from seg_ros.zoo.datasets.camvid import CAMVID_CLASSES, CAMVID_PALETTE
from seg_ros.zoo.datasets.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from seg_ros.zoo.datasets.cocostuff import COCO_STUFF_171
from seg_ros.zoo.datasets.rugd import RUGD_CLASSES, RUGD_PALETTE
from seg_ros.zoo.foreign import ForeignIO, WrapError, WrapSpec
from seg_ros.zoo.networks import Normalization

__all__ = ['DATASETS', 'MIN_AGREEMENT', 'NORMALIZATIONS', 'WrapError', 'WrapResult',
           'dataset_preset', 'normalization', 'read_classes', 'read_palette', 'wrap_onnx']

MIN_AGREEMENT = 0.999
Triplet = tuple[float, float, float]

# name -> (mean, std, rescale) for x = (pixel * rescale - mean) / std, pixel in 0..255.
NORMALIZATIONS: dict[str, tuple[Triplet, Triplet, float]] = {
    # torchvision, Hugging Face image processors, mmsegmentation (its 123.675/58.395 are these)
    'imagenet': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1 / 255),
    # PaddleSeg's default, many TF/Keras models: -1..1
    'symmetric': ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1 / 255),
    'unit': ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1 / 255),    # 0..1
    'raw': ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1.0),          # 0..255 as is
}


@dataclass(frozen=True)
class DatasetPreset:
    """A dataset's class list and colours (the zoo's tables) and the name the metadata records."""

    title: str                       # seg_ros.dataset: the node picks the taxonomy preset by it
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    optional_tail: int = 0           # trailing classes some models of the dataset leave out

    def fit(self, n: int) -> Optional[tuple[tuple[str, ...], np.ndarray]]:
        """Classes and palette for a model with ``n`` classes, or None when the count differs."""
        full = len(self.classes)
        if n == full or (self.optional_tail and n == full - self.optional_tail):
            return self.classes[:n], np.asarray(self.palette[:n], np.uint8)
        return None

    def counts(self) -> str:
        full = len(self.classes)
        return f'{full - self.optional_tail} or {full}' if self.optional_tail else str(full)


DATASETS: dict[str, DatasetPreset] = {
    'cityscapes': DatasetPreset('Cityscapes (19 train ids)', CITYSCAPES_CLASSES,
                                CITYSCAPES_PALETTE),
    'ade20k': DatasetPreset('ADE20K SceneParsing (150 classes)', ADE20K_CLASSES, ADE20K_PALETTE),
    # CamVid-11 as the SegNet split orders it, optionally with the void class last
    'camvid': DatasetPreset('CamVid (11 classes, SegNet split)', CAMVID_CLASSES, CAMVID_PALETTE,
                            optional_tail=1),
    'cocostuff': DatasetPreset('COCO-Stuff (171 classes)', COCO_STUFF_171, tuple(
        (int(r), int(g), int(b)) for r, g, b in contract.default_palette(171))),
    'rugd': DatasetPreset('RUGD (25 off-road classes)', RUGD_CLASSES, RUGD_PALETTE),
}


def dataset_preset(name: Optional[str]) -> Optional[DatasetPreset]:
    """Return the preset called ``name`` (case, ``-`` and ``_`` ignored), else None."""
    key = (name or '').lower().replace('-', '').replace('_', '')
    return DATASETS.get(key)


def _number(text: str, option: str) -> float:
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise WrapError(f'{option}: "{text}" is not a number (1/255 and 0.0039 both work)') \
            from None


def _triplet(text: Union[str, Sequence[float]], option: str) -> Triplet:
    values = ([_number(v, option) for v in text.split(',')] if isinstance(text, str)
              else [float(v) for v in text])
    if len(values) != 3:
        raise WrapError(f'{option} needs 3 comma-separated values (one per channel, in the '
                        f"network's channel order), got {text}")
    return (values[0], values[1], values[2])


def normalization(preset: Optional[str] = None,
                  mean: Union[str, Sequence[float], None] = None,
                  std: Union[str, Sequence[float], None] = None,
                  rescale: Union[str, float, None] = None, bgr: bool = False) -> Normalization:
    """
    Build the network's input normalisation: ``x = (pixel * rescale - mean) / std``.

    ``pixel`` is the camera frame in 0..255, reordered to BGR when ``bgr``; ``mean`` and ``std``
    are in that channel order. Give a ``preset`` (:data:`NORMALIZATIONS`) or ``mean`` and
    ``std``; ``rescale`` defaults to 1/255 when every mean and std value is at most 1 (how
    torchvision, Hugging Face and PaddleSeg write them), else to 1 (mmsegmentation's 0..255
    numbers). Without any of them: ``imagenet``.
    """
    if preset is not None and (mean is not None or std is not None):
        raise WrapError('give either --norm or --mean/--std, not both')
    if (mean is None) != (std is None):
        raise WrapError('--mean and --std go together (one value per channel each)')
    if mean is None:
        name = preset or 'imagenet'
        if name not in NORMALIZATIONS:
            raise WrapError(f'unknown normalisation preset "{name}"; choose one of '
                            f'{", ".join(NORMALIZATIONS)} or pass --mean and --std')
        m, s, r = NORMALIZATIONS[name]
        if bgr:
            m, s = (m[2], m[1], m[0]), (s[2], s[1], s[0])
    else:
        assert std is not None
        m, s = _triplet(mean, '--mean'), _triplet(std, '--std')
        r = 1 / 255 if max(m + s) <= 1 else 1.0
    if rescale is not None:
        r = _number(rescale, '--rescale') if isinstance(rescale, str) else float(rescale)
    if r <= 0 or any(v <= 0 for v in s):
        raise WrapError(f'--std values and --rescale must be positive, got std {list(s)}, '
                        f'rescale {r:g}')
    # (pixel * r - m) / s  ==  (pixel - m / r) / (s / r): the zoo's form, scale 1
    return Normalization(mean=(m[0] / r, m[1] / r, m[2] / r), std=(s[0] / r, s[1] / r, s[2] / r),
                         scale=1.0, bgr=bgr)


def read_classes(spec: str) -> tuple[tuple[str, ...], Optional[DatasetPreset]]:
    """
    Read class names from a dataset preset name, a text file or a JSON file.

    Text: one name per line (blank lines and ``#`` comments skipped). JSON: a list of names, or
    a Hugging Face ``config.json`` (its ``id2label``, ordered by id).
    """
    preset = dataset_preset(spec)
    if preset is not None and not os.path.isfile(spec):
        return preset.classes, preset
    path = Path(spec)
    if not path.is_file():
        raise WrapError(f'--classes {spec}: neither a file nor a dataset preset '
                        f'({", ".join(DATASETS)})')
    text = path.read_text(encoding='utf-8')
    if path.suffix.lower() == '.json':
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WrapError(f'--classes {spec}: not valid JSON ({exc})') from exc
        if isinstance(value, dict) and isinstance(value.get('id2label'), dict):
            try:
                table = {int(k): str(v) for k, v in value['id2label'].items()}
            except ValueError as exc:
                raise WrapError(f'--classes {spec}: id2label keys must be class ids') from exc
            if sorted(table) != list(range(len(table))):
                raise WrapError(f'--classes {spec}: id2label ids are not 0..{len(table) - 1}')
            return tuple(table[i].strip() for i in range(len(table))), None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(v.strip() for v in value), None
        raise WrapError(f'--classes {spec}: expected a JSON list of names or a config with '
                        '"id2label"')
    names = [line.strip() for line in text.splitlines()]
    return tuple(n for n in names if n and not n.startswith('#')), None


def read_palette(spec: str, n: int) -> np.ndarray:
    """Read ``n`` colours: a dataset preset name, or a file of ``r g b`` (or ``r,g,b``) lines."""
    preset = dataset_preset(spec)
    if preset is not None and not os.path.isfile(spec):
        fitted = preset.fit(n)
        if fitted is None:
            raise WrapError(f'--palette {spec}: the preset has {preset.counts()} colours, the '
                            f'model {n} classes')
        return fitted[1]
    try:
        lines = Path(spec).read_text(encoding='utf-8').splitlines()
    except OSError as exc:
        raise WrapError(f'--palette {spec}: neither a readable file nor a dataset preset '
                        f'({", ".join(DATASETS)}): {exc}') from exc
    rows = []
    for i, line in enumerate(lines, 1):
        line = line.split('#')[0].replace(',', ' ').strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3 or not all(p.isdigit() and int(p) <= 255 for p in parts):
            raise WrapError(f'--palette {spec} line {i}: expected "r g b" in 0..255, got {line!r}')
        rows.append([int(p) for p in parts])
    if len(rows) != n:
        raise WrapError(f'--palette {spec}: {len(rows)} colours for {n} classes')
    return np.asarray(rows, np.uint8)


@dataclass
class WrapResult:
    """What :func:`wrap_onnx` wrote and what it checked."""

    path: str
    io: ForeignIO
    input_size: tuple[int, int]
    classes: tuple[str, ...]
    agreement: float                  # worst frame's share of pixels with the same label
    frames_checked: int
    precision: str = 'fp32'
    typed_agreement: Optional[float] = None    # fp16/int8 graph against the same reference
    tensorrt_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _resolve_size(io: ForeignIO, input_size: Optional[Sequence[int]]) -> tuple[int, int]:
    static = io.static_size
    if input_size is None:
        if static is None:
            raise WrapError(f'input "{io.input_name}" has dynamic height/width '
                            f'{list(io.input_shape)}: give the size the network should run at, '
                            'e.g. --input-size 512x512 (WxH)')
        return static
    h, w = int(input_size[0]), int(input_size[1])
    if h < 1 or w < 1:
        raise WrapError(f'input size must be positive, got {w}x{h} (WxH)')
    for got, fixed, what in ((h, io.input_shape[2], 'height'), (w, io.input_shape[3], 'width')):
        if isinstance(fixed, int) and fixed != got:
            raise WrapError(f'input "{io.input_name}" has a fixed {what} of {fixed} '
                            f'({list(io.input_shape)}); --input-size asks for {got}')
    return h, w


def _session(data: bytes) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    return ort.InferenceSession(data, so, providers=['CPUExecutionProvider'])


def _foreign_outputs(session: Any, io: ForeignIO, spec: WrapSpec,
                     frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run the foreign model on the reference inputs; check what it really returns."""
    outs = []
    for frame in frames:
        try:
            out = session.run([io.output_name],
                              {io.input_name: foreign.reference_input(frame, io, spec)})[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise WrapError(f'ONNX Runtime could not run the model at '
                            f'{spec.input_size[1]}x{spec.input_size[0]} (WxH): {exc}') from exc
        if io.kind == foreign.LOGITS:
            ok = out.ndim == 4 and out.shape[0] == 1 and out.shape[1] >= 2
        else:
            ok = out.ndim in (3, 4) and out.shape[0] == 1 and out.size == np.prod(out.shape[-2:])
        if not ok:
            what = 'logits [1, C, h, w]' if io.kind == foreign.LOGITS else 'class ids [1, h, w]'
            raise WrapError(f'output "{io.output_name}" returned shape {list(out.shape)}, '
                            f'not {what}')
        outs.append(out)
    return outs


def _classes(io: ForeignIO, n_out: Optional[int], classes: Optional[str],
             palette: Optional[str], dataset: Optional[str]
             ) -> tuple[tuple[str, ...], np.ndarray, Optional[str], str]:
    """Return classes, palette, dataset metadata and where the names came from."""
    preset = None
    if classes:
        names, preset = read_classes(classes)
        origin = f'preset {classes}' if preset else os.path.basename(classes)
    elif dataset_preset(dataset) is not None:
        preset = dataset_preset(dataset)
        assert preset is not None
        names, origin = preset.classes, f'preset {dataset}'
    elif n_out is not None:
        names, origin = tuple(f'class_{i}' for i in range(n_out)), 'generated'
    else:
        raise WrapError(f'output "{io.output_name}" holds class ids, so the class count cannot be '
                        'read from the model: name the classes with --classes FILE or a dataset '
                        f'preset ({", ".join(DATASETS)})')
    n = n_out if n_out is not None else len(names)
    if preset is not None:
        fitted = preset.fit(n)
        if fitted is None:
            raise WrapError(f'the model outputs {n} classes (output "{io.output_name}" '
                            f'{list(io.output_shape)}) but {origin} has {preset.counts()}; pass '
                            '--classes FILE with one name per class')
        names, preset_palette = fitted
    elif len(names) != n:
        raise WrapError(f'the model outputs {n} classes (output "{io.output_name}" '
                        f'{list(io.output_shape)}) but {origin} names {len(names)}')
    named = dataset_preset(dataset)   # --dataset ade20k with names from a file: its colours
    named_fit = named.fit(n) if named is not None else None
    if palette:
        colours = read_palette(palette, n)
    elif preset is not None:
        colours = preset_palette
    elif named_fit is not None:
        colours = named_fit[1]
    else:
        colours = contract.default_palette(n)
    if dataset is None and preset is not None:
        dataset = preset.title
    return names, colours, dataset, origin


def _agreement(data: bytes, frames: Sequence[np.ndarray], reference: Sequence[np.ndarray]
               ) -> float:
    """Worst frame's share of pixels where the contract model's labels equal the reference."""
    session = _session(data)
    worst = 1.0
    for frame, ref in zip(frames, reference):
        labels = session.run([contract.LABELS], {contract.INPUT: frame[None]})[0][0]
        worst = min(worst, float(np.mean(labels == ref)))
    return worst


def _metadata(model: Any, src: str, name: str, names: Sequence[str], colours: np.ndarray,
              dataset: Optional[str], spec: WrapSpec, options: dict[str, Any]) -> dict[str, str]:
    """Contract metadata with provenance; the model's own (non-seg_ros) keys are kept."""
    import onnx

    producer = ' '.join(p for p in (model.producer_name, model.producer_version) if p)
    props = {p.key: p.value for p in model.metadata_props if not p.key.startswith('seg_ros.')}
    try:
        props.update(contract.encode_metadata(
            names, colours, name=name, dataset=dataset or 'unknown',
            input_size=json.dumps(list(spec.input_size)),
            source=f'{Path(src).name} sha256:{sha256_file(src)}',
            architecture=(f'foreign ONNX ({producer or "unknown producer"}, graph '
                          f'"{model.graph.name}")'),
            normalization=spec.normalization.describe(),
            exporter=f'seg_ros wrap (onnx {onnx.__version__}, opset {options["opset"]})',
            wrap=json.dumps(options, sort_keys=True)))
    except contract.ContractError as exc:
        raise WrapError(str(exc)) from exc
    return props


def wrap_onnx(src: Union[str, os.PathLike], out_path: Union[str, os.PathLike], *,
              input_name: Optional[str] = None, output_name: Optional[str] = None,
              input_size: Optional[Sequence[int]] = None,
              norm: Optional[Normalization] = None, classes: Optional[str] = None,
              palette: Optional[str] = None, dataset: Optional[str] = None,
              name: Optional[str] = None, confidence: bool = False,
              align_corners: bool = False, check_frames: Sequence[np.ndarray] = (),
              simplify: bool = False, precision: str = 'fp32', calib_dir: str = '',
              calib_limit: int = 0, calib_method: str = 'percentile', keep_float: int = 0,
              sensitivity_frames: int = 0,
              min_agreement: float = MIN_AGREEMENT) -> WrapResult:
    """
    Wrap the foreign model ``src`` into the seg_ros contract at ``out_path``; see the module doc.

    ``input_size`` is the network's (height, width) (default: the input's fixed size);
    ``norm`` defaults to ImageNet's (:func:`normalization` builds one); ``classes`` and
    ``palette`` are files or dataset presets, ``dataset`` the name the metadata records (a
    preset name there also names the classes). ``check_frames`` are uint8 RGB ``(H, W, 3)``
    frames for the agreement check (default: two synthetic frames of odd sizes).
    """
    import onnx

    src = str(src)
    notes: list[str] = []
    try:
        model = onnx.load(src)
    except FileNotFoundError:
        raise
    except Exception as exc:  # onnx raises DecodeError and friends for corrupt files
        raise WrapError(f'{src}: not a readable ONNX file ({exc})') from exc
    io = foreign.inspect(model, input_name, output_name)
    if io.ignored_outputs:
        notes.append(f'using output "{io.output_name}" ({io.kind}); left out: '
                     f'{", ".join(io.ignored_outputs)} (pick another with --output-name)')
    size = _resolve_size(io, input_size)
    try:
        calib_files = export.calibration_files(precision, calib_dir, calib_limit)
        export.check_keep_float(precision, keep_float, sensitivity_frames)
    except export.ExportError as exc:
        raise WrapError(str(exc)) from exc
    if precision != 'fp32' and io.input_type != onnx.TensorProto.FLOAT:
        kind = onnx.TensorProto.DataType.Name(io.input_type).lower()
        raise WrapError(f'--precision {precision} converts float32 networks; input '
                        f'"{io.input_name}" is already {kind}')
    spec = WrapSpec(size, norm or normalization(), align_corners, confidence)
    frames = [np.ascontiguousarray(f, np.uint8) for f in check_frames] or [
        f[0] for f in export.probe_frames()]
    if any(f.ndim != 3 or f.shape[2] != 3 for f in frames):
        raise WrapError('check frames must be RGB (H, W, 3) images')
    outputs = _foreign_outputs(_session(model.SerializeToString()), io, spec, frames)
    n_out = outputs[0].shape[1] if io.kind == foreign.LOGITS else None
    names, colours, dataset, origin = _classes(io, n_out, classes, palette, dataset)
    if origin == 'generated':
        notes.append(f'no class names given: class_0..class_{len(names) - 1} (pass --classes '
                     'FILE or a dataset preset so taxonomies and legends can use them)')
    reference = [foreign.reference_labels(o, io, f.shape[:2], spec)
                 for o, f in zip(outputs, frames)]
    top = max(int(r.max()) for r in reference)
    if top >= len(names):
        raise WrapError(f'the model labels pixels with class {top}, but only {len(names)} '
                        f'classes are named ({origin})')
    renamed = foreign.reserved_clashes(model)
    if renamed:
        notes.append(f'renamed the model\'s {", ".join(renamed)} (names the contract needs) to '
                     f'{foreign.PREFIX}foreign/...')
    wrapped = foreign.build_contract_graph(model, io, spec)
    agreement = _agreement(wrapped.SerializeToString(), frames, reference)
    if agreement < min_agreement:
        raise WrapError(f'the wrapped graph agrees with the reference pre/post-processing on '
                        f'only {100 * agreement:.3f} % of the pixels (needs '
                        f'{100 * min_agreement:.1f} %); nothing written')
    name = name or Path(src).stem
    options = {'input': io.input_name, 'output': io.output_name, 'output_kind': io.kind,
               'left_out': list(io.ignored_outputs), 'input_size': list(size),
               'align_corners': align_corners, 'confidence': confidence, 'classes': origin,
               'opset': io.opset, 'agreement': round(agreement, 6),
               'frames_checked': len(frames)}
    props = _metadata(model, src, name, names, colours, dataset, spec, options)
    wrapped.producer_name = 'seg_ros wrap'
    wrapped.doc_string = (f'{name}: {Path(src).name} wrapped into the seg_ros contract. '
                          + model.doc_string)[:2000]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            path = export.finish(wrapped, props, name, out_path, simplify, precision,
                                 calib_files, calib_method, keep_float, sensitivity_frames)
        except export.ExportError as exc:
            raise WrapError(str(exc)) from exc
    notes += [str(c.message) for c in caught if 'TensorRT 10 would refuse' not in str(c.message)]
    written = onnx.load(path)
    result = WrapResult(path, io, size, tuple(names), agreement, len(frames), precision,
                        tensorrt_problems=export.tensorrt_problems(written), notes=notes)
    if precision != 'fp32':
        result.typed_agreement = _agreement(written.SerializeToString(), frames, reference)
    return result
