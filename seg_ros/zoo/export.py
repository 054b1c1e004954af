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
Export a zoo network into the seg_ros model contract (one self-contained ONNX file).

The exporter builds the network, loads the official weights strictly, wraps it with
:class:`seg_ros.zoo.networks.wrapper.ContractWrapper` (all pre- and post-processing in the graph),
traces it with PyTorch's TorchScript-based ONNX exporter (``dynamo=False``: it gives a plain
static graph with dynamic frame height and width and no ``If``/``Loop`` nodes, which TensorRT
parses best), writes the contract metadata, runs the ONNX checker and, when the result still
keeps the contract and the same labels, the onnxslim simplifier, and writes the file atomically.

PyTorch is imported only inside the functions that need it (the ``export`` extra), so
:func:`cached_export` returns an existing export without it.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path
import tempfile
from typing import Any, Callable, Iterator, Optional, Sequence, Union
import warnings

from seg_ros import zoo
from seg_ros.common.files import atomic_output, sha256_file
from seg_ros.inference import contract

DEFAULT_OPSET = 17
EXPORTERS = ('torchscript', 'dynamo')
# Bump when the exported graph changes in a way the hashed source files below do not capture.
EXPORT_FORMAT = '1'
_SOURCES = ('zoo/export.py', 'zoo/registry.py', 'zoo/precision.py', 'inference/contract.py',
            'inference/tensorrt/trt_compat.py')


class ExportError(RuntimeError):
    """The export could not produce a contract model; the message says why and what to do."""


def _entry(name_or_entry: Union[str, zoo.ZooEntry]) -> zoo.ZooEntry:
    return zoo.get(name_or_entry) if isinstance(name_or_entry, str) else name_or_entry


def _input_size(entry: zoo.ZooEntry, input_size: Optional[Sequence[int]]) -> tuple[int, int]:
    h, w = (int(v) for v in (input_size or entry.input_size))
    m = entry.size_multiple
    if h < m or w < m or h % m or w % m:
        raise ExportError(f'{entry.name}: network input size {w}x{h} (WxH) must be positive '
                          f'multiples of {m}; e.g. {entry.input_size[1]}x{entry.input_size[0]}')
    return h, w


def build_network(entry: Union[str, zoo.ZooEntry], weights: Optional[str] = None) -> Any:
    """Return the entry's ``torch.nn.Module`` with its weights loaded strictly, in eval mode."""
    entry = _entry(entry)
    from seg_ros.zoo.networks.espnet import load_checkpoint

    module_name, _, func = entry.factory.partition(':')
    module = importlib.import_module(module_name)
    net = getattr(module, func)(**entry.factory_kwargs)
    # An architecture module may bring its own strict loader (other file formats, optional
    # training-only heads); the generic one reads a plain state_dict file.
    loader = getattr(module, 'load_checkpoint', load_checkpoint)
    return loader(net, str(zoo.resolve_weights(entry, weights)))


def build_wrapper(entry: Union[str, zoo.ZooEntry], input_size: Optional[Sequence[int]] = None,
                  confidence: bool = False, weights: Optional[str] = None) -> Any:
    """Return the contract wrapper around the entry's network (what gets exported)."""
    entry = _entry(entry)
    from seg_ros.zoo.networks.wrapper import wrap

    # The resize convention the network was trained with (most: align_corners=False).
    align = str(entry.extra.get('align_corners', 'false')).lower() == 'true'
    return wrap(build_network(entry, weights), _input_size(entry, input_size),
                entry.normalization, confidence, align_corners=align)


def metadata(entry: zoo.ZooEntry, input_size: Sequence[int], weights_sha256: str,
             opset: int) -> dict[str, str]:
    """Return the contract metadata_props for an export of ``entry``."""
    import torch

    return contract.encode_metadata(
        entry.classes, entry.palette,
        name=entry.name, dataset=entry.dataset, architecture=entry.architecture,
        input_size=json.dumps([int(input_size[0]), int(input_size[1])]),
        source=f'{entry.url} sha256:{weights_sha256}',
        normalization=entry.normalization.describe(),
        license=f'{entry.licence}; {entry.attribution}',
        exporter=f'seg_ros export (torch {torch.__version__}, opset {opset})')


def _set_metadata(model: Any, props: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _fix_batch_dim(model: Any) -> None:
    """Pin the outputs' batch dimension to 1 (the tracer names it after an internal Cast)."""
    for out in model.graph.output:
        dims = out.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_value = 1


def _only_cast_reads_image(model: Any) -> None:
    """
    Let the first Cast be the only reader of the uint8 ``image`` (TensorRT's uint8 rule).

    Exporters and optimisers like to turn ``Shape(Cast(image))`` into ``Shape(image)``; the
    shape is the same, so such readers are pointed back at the Cast's float output.
    """
    nodes = model.graph.node
    cast = next((n for n in nodes if n.op_type == 'Cast' and contract.INPUT in n.input), None)
    if cast is None:
        raise ExportError('the exported graph does not start with Cast(image); the wrapper '
                          'must cast the uint8 frame to float first')
    for node in nodes:
        if node is cast:
            continue
        for i, name in enumerate(node.input):
            if name == contract.INPUT:
                if node.op_type != 'Shape':
                    raise ExportError(f'{node.op_type} node "{node.name}" reads the uint8 '
                                      'image directly; cast it to float first')
                node.input[i] = cast.output[0]
    # The Cast reads only the graph input, so it can go first (keeps the order topological).
    index = list(nodes).index(cast)
    if index:
        first = type(cast)()
        first.CopyFrom(cast)
        del nodes[index]
        nodes.insert(0, first)


def probe_frames() -> list[Any]:
    """Deterministic frames of a few odd sizes, to compare two graphs' labels."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for h, w in ((97, 131), (240, 320)):
        yy, xx = np.mgrid[0:h, 0:w]
        smooth = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (h + w)], -1)
        noise = rng.integers(0, 64, (h, w, 3))
        out.append(np.clip(smooth + noise, 0, 255).astype(np.uint8)[None])
    return out


def _run_labels(model_bytes: bytes, frames: list[Any]) -> list[Any]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, so, providers=['CPUExecutionProvider'])
    return [sess.run([contract.LABELS], {contract.INPUT: f})[0] for f in frames]


def _simplify(model: Any) -> Optional[Any]:
    """Return onnxslim's version of ``model`` if it keeps the contract and the labels."""
    import numpy as np
    import onnx

    try:
        import onnxslim
    except ImportError:
        return None
    props = {p.key: p.value for p in model.metadata_props}
    try:
        slim = onnxslim.slim(model)
    except Exception as exc:  # a simplifier bug must never fail the export
        warnings.warn(f'onnxslim failed ({exc}); keeping the unsimplified graph')
        return None
    _set_metadata(slim, props)
    _fix_batch_dim(slim)
    _only_cast_reads_image(slim)
    try:
        onnx.checker.check_model(slim)
        _check_contract_bytes(slim.SerializeToString())
        before, after = tensorrt_problems(model), tensorrt_problems(slim)
        if len(after) > len(before):   # e.g. Cast(FLOAT) -> Cast(UINT8) folded into one
            raise ExportError('onnxslim made the graph worse for TensorRT: '
                              + '; '.join(p for p in after if p not in before))
        frames = probe_frames()
        same = all(np.array_equal(a, b) for a, b in zip(
            _run_labels(model.SerializeToString(), frames),
            _run_labels(slim.SerializeToString(), frames)))
    except Exception as exc:  # checker / contract / runtime errors all mean: do not use it
        warnings.warn(f'simplified graph rejected ({exc}); keeping the unsimplified graph')
        return None
    if not same:
        warnings.warn('simplified graph changes labels; keeping the unsimplified graph')
        return None
    return slim


def _check_contract_bytes(data: bytes) -> contract.ModelInfo:
    with tempfile.NamedTemporaryFile(suffix='.onnx') as f:
        f.write(data)
        f.flush()
        return contract.check_onnx(f.name)


def export_onnx(name_or_entry: Union[str, zoo.ZooEntry], out_path: Union[str, os.PathLike],
                input_size: Optional[Sequence[int]] = None, opset: int = DEFAULT_OPSET,
                confidence: bool = False, weights: Optional[str] = None,
                simplify: bool = True, exporter: str = 'torchscript',
                precision: str = 'fp32', calib_dir: str = '', calib_limit: int = 0,
                calib_method: str = 'percentile', keep_float: int = 0,
                sensitivity_frames: int = 0,
                log: Optional[Callable[[str], None]] = None) -> str:
    """
    Export a zoo model to ``out_path`` in the seg_ros contract and return the path.

    ``precision`` ``fp16``, ``int8`` (TensorRT's Q/DQ form) or ``int8-cpu`` (ONNX Runtime's
    CPU form) converts the float32 graph into a typed one (:mod:`seg_ros.zoo.precision`); the
    int8 ones calibrate on the frames in ``calib_dir`` (the first ``calib_limit``, 0 = all)
    with ``calib_method``. ``keep_float`` (``int8``) keeps that many of the layers the
    sensitivity pass (on ``sensitivity_frames`` calibration frames, 0 = the default) finds
    most sensitive in float32; its table and other progress go to ``log``.

    ``input_size`` is the network's (height, width) (default: the entry's); the exported model
    takes frames of any size. ``weights`` overrides the zoo's weights file (not sha-checked).
    ``exporter`` is ``'torchscript'`` (fast, the default) or ``'dynamo'`` (torch.export based,
    about 3x slower to export, same graph); when the TorchScript exporter fails (a PyTorch
    without it), the dynamo exporter is tried with a warning.
    """
    if exporter not in EXPORTERS:
        raise ExportError(f'unknown exporter "{exporter}"; choose one of {", ".join(EXPORTERS)}')
    entry = _entry(name_or_entry)
    size = _input_size(entry, input_size)
    calib_files = calibration_files(precision, calib_dir, calib_limit)
    check_keep_float(precision, keep_float, sensitivity_frames)
    try:
        import onnx
        import torch  # noqa: F401 (fail early with the install hint, before any work)
    except ImportError as exc:
        raise ExportError(f'exporting needs PyTorch and onnx ({exc}); install the export extra: '
                          'pip install "seg_ros[export]" (torch, onnxscript, onnxslim)') from exc
    weights_path = zoo.resolve_weights(entry, weights)
    weights_sha = entry.sha256 if not weights else sha256_file(weights_path)
    wrapper = build_wrapper(entry, size, confidence, str(weights_path))
    with tempfile.TemporaryDirectory(prefix='seg_ros_export_') as tmp:
        traced = os.path.join(tmp, 'traced.onnx')
        try:
            _trace(wrapper, size, opset, traced, exporter)
        except Exception as exc:  # exporter internals raise anything from TypeError on
            if exporter != 'torchscript':
                raise ExportError(f'{entry.name}: ONNX export failed: {exc}') from exc
            warnings.warn(f'TorchScript ONNX exporter failed ({exc}); trying dynamo=True')
            try:
                _trace(wrapper, size, opset, traced, 'dynamo')
            except Exception as exc2:  # as above
                raise ExportError(f'{entry.name}: ONNX export failed with both exporters: '
                                  f'{exc}; {exc2}') from exc2
        model = onnx.load(traced)
    _fix_batch_dim(model)
    _only_cast_reads_image(model)
    model.producer_name = 'seg_ros'
    doc_string = f'{entry.name}: {entry.architecture}, {entry.dataset}. {entry.attribution}'
    model.doc_string = doc_string
    props = metadata(entry, size, weights_sha, opset)
    return finish(model, props, entry.name, out_path, simplify, precision, calib_files,
                  calib_method, keep_float, sensitivity_frames, log)


def finish(model: Any, props: dict[str, str], name: str, out_path: Union[str, os.PathLike],
           simplify: bool = True, precision: str = 'fp32', calib_files: Sequence[str] = (),
           calib_method: str = 'percentile', keep_float: int = 0, sensitivity_frames: int = 0,
           log: Optional[Callable[[str], None]] = None) -> str:
    """
    Turn a float32 contract graph into the written model file; return its path.

    Shared by ``seg-ros export`` and ``seg-ros wrap``: sets ``props`` as metadata, runs the ONNX
    checker, optionally onnxslim (kept only if the labels stay the same), the typed
    ``precision`` conversion (``calib_files`` from :func:`calibration_files`), the TensorRT
    operator check (a warning) and the atomic write with the contract check.
    """
    import onnx

    props = dict(props)
    doc_string = model.doc_string
    _set_metadata(model, props)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f'{name}: exported graph fails the ONNX checker: {exc}') from exc
    if simplify:
        model = _simplify(model) or model
    if precision != 'fp32':
        model = _convert(model, name, precision, calib_files, calib_method, keep_float,
                         sensitivity_frames, log)
        props.update({p.key: p.value for p in model.metadata_props})   # the conversion's own
        props[contract.KEY_PRECISION] = precision
        if calib_files:
            props[contract.KEY_CALIBRATION] = calibration_description(calib_files, calib_method)
        _set_metadata(model, props)
    if precision != 'int8-cpu':   # that one is for ONNX Runtime's CPU kernels only
        _warn_tensorrt(model, name)
    # onnxslim and the precision converters build a new ModelProto without them.
    model.producer_name, model.doc_string = 'seg_ros', doc_string
    return _write_atomic(model.SerializeToString(), Path(out_path))


def check_keep_float(precision: str, keep_float: int, sensitivity_frames: int) -> None:
    """Refuse sensitivity-pass options that the chosen precision would silently ignore."""
    if keep_float and precision != 'int8':
        raise ExportError(f'--keep-float is only used by --precision int8, not {precision}')
    if keep_float < 0 or sensitivity_frames < 0:
        raise ExportError('--keep-float and --sensitivity-frames must be >= 0')


def calibration_files(precision: str, calib_dir: str, calib_limit: int) -> list[str]:
    """Check the precision options before minutes of export; return the calibration frames."""
    from seg_ros.zoo import precision as prec

    if precision not in prec.PRECISIONS:
        raise ExportError(f'precision "{precision}" is not one of {", ".join(prec.PRECISIONS)}')
    if precision not in prec.INT8_PRECISIONS:
        if calib_dir:
            raise ExportError(f'--calib is only used by --precision int8 and int8-cpu, not '
                              f'{precision}')
        return []
    if not calib_dir:
        raise ExportError(f'--precision {precision} needs calibration frames: pass --calib DIR '
                          '(frames '
                          'like the robot sees, e.g. ../shared/data/camvid/calib; never the '
                          'frames you evaluate on)')
    if calib_limit < 0:
        raise ExportError(f'--calib-count must be >= 0 (0 = all), got {calib_limit}')
    try:
        files = prec.list_images(calib_dir)
    except prec.PrecisionError as exc:
        raise ExportError(str(exc)) from exc
    return files[:calib_limit] if calib_limit else files


def calibration_description(files: Sequence[str], method: str) -> str:
    """Describe a calibration set for the metadata: count, method, folder, content hash."""
    h = hashlib.sha256()
    for path in files:
        h.update(os.path.basename(path).encode())
        h.update(bytes.fromhex(sha256_file(path)))
    folder = os.path.dirname(os.path.abspath(files[0])) if files else ''
    return (f'{len(files)} frames from {folder}, {method}, sha256:{h.hexdigest()[:16]}')


def _convert(model: Any, name: str, precision: str, calib_files: Sequence[str],
             method: str, keep_float: int = 0, sensitivity_frames: int = 0,
             log: Optional[Callable[[str], None]] = None) -> Any:
    """Return the typed model; it must still load in ONNX Runtime and give contract I/O."""
    import onnx

    from seg_ros.zoo import precision as prec

    try:
        if precision == 'fp16':
            typed = prec.to_fp16(model)
        elif precision == 'int8-cpu':
            typed = prec.to_int8_cpu(model, calib_files, method, log=log)
        else:
            typed = prec.to_int8(model, calib_files, method, keep_float=keep_float,
                                 sensitivity_frames=sensitivity_frames or prec.SENSITIVITY_FRAMES,
                                 log=log)
    except prec.PrecisionError as exc:
        raise ExportError(f'{name}: {exc}') from exc
    try:
        onnx.checker.check_model(typed)
        _run_labels(typed.SerializeToString(), probe_frames()[:1])
    except Exception as exc:  # checker or runtime: the conversion produced an unusable graph
        raise ExportError(f'{name}: the {precision} graph is not usable ({exc})') from exc
    return typed


def _trace(wrapper: Any, size: tuple[int, int], opset: int, path: str, exporter: str) -> None:
    """Run one of PyTorch's ONNX exporters with dynamic frame height and width."""
    import torch

    names = wrapper.output_names()
    example = torch.zeros(1, size[0], size[1], 3, dtype=torch.uint8)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation notice
        if exporter == 'torchscript':
            dyn = {1: 'height', 2: 'width'}
            torch.onnx.export(wrapper, (example,), path, input_names=[contract.INPUT],
                              output_names=names, opset_version=opset, dynamo=False,
                              do_constant_folding=True,
                              dynamic_axes={n: dyn for n in [contract.INPUT] + names})
            return
        h = torch.export.Dim('height', min=2, max=16384)
        w = torch.export.Dim('width', min=2, max=16384)
        program = torch.onnx.export(wrapper, (example,), input_names=[contract.INPUT],
                                    output_names=names, opset_version=opset, dynamo=True,
                                    dynamic_shapes=({1: h, 2: w},), verbose=False)
        if program is None:
            raise ExportError('torch.onnx.export(dynamo=True) returned no program')
        program.save(path)


def tensorrt_problems(model: Any) -> list[str]:
    """Return the TensorRT 10 parser-table problems of ``model`` (none without the table)."""
    from seg_ros.inference.tensorrt import trt_compat

    try:
        table = trt_compat.load_table()
    except (OSError, ValueError):
        return []
    return trt_compat.check_model(model, table)


def _warn_tensorrt(model: Any, name: str) -> None:
    """Warn about anything TensorRT's parser would refuse, when its table is at hand."""
    from seg_ros.inference.tensorrt import trt_compat

    try:
        table = trt_compat.load_table()
    except (OSError, ValueError):
        return  # no assets here: the robot's engine build will tell
    problems = trt_compat.check_model(model, table)
    if problems:
        warnings.warn(f'{name}: TensorRT 10 would refuse this export: ' + '; '.join(problems))


def _write_atomic(data: bytes, out: Path) -> str:
    """Write, contract-check and rename into place: readers never see a partial model."""
    with atomic_output(out) as (f, tmp):
        f.write(data)
        f.flush()
        try:
            contract.check_onnx(tmp)
        except contract.ContractError as exc:
            raise ExportError(f'export does not meet the seg_ros contract: {exc}') from exc
    return str(out)


def _code_version(entry: zoo.ZooEntry) -> str:
    """
    Hash of the sources that shape the exported graph: exporter, wrapper, architectures.

    All of ``seg_ros/zoo/networks`` counts (architectures share blocks and loaders), plus the
    factory's module when it lives elsewhere.
    """
    root = Path(__file__).resolve().parents[1]
    files = [root / s for s in _SOURCES if (root / s).is_file()]
    files += sorted((root / 'zoo' / 'networks').glob('*.py'))
    spec = importlib.util.find_spec(entry.factory.partition(':')[0])
    if spec is not None and spec.origin and Path(spec.origin) not in files:
        files.append(Path(spec.origin))
    h = hashlib.sha256(EXPORT_FORMAT.encode())
    for path in files:
        h.update(path.read_bytes())
    for dist in ('torch', 'onnx', 'onnxslim'):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            h.update(f'{dist}={importlib.metadata.version(dist)}'.encode())
    return h.hexdigest()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Serialise exports of the same file between processes (tests, node, demo in parallel)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic rename alone still keeps readers safe
        yield
        return
    with open(str(path) + '.lock', 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_export(name: Union[str, zoo.ZooEntry],
                  cache_dir: Optional[Union[str, os.PathLike]] = None,
                  input_size: Optional[Sequence[int]] = None, opset: int = DEFAULT_OPSET,
                  confidence: bool = False, weights: Optional[str] = None,
                  simplify: bool = True, exporter: str = 'torchscript',
                  precision: str = 'fp32', calib_dir: str = '', calib_limit: int = 0,
                  calib_method: str = 'percentile', keep_float: int = 0) -> str:
    """
    Return the path of an export of ``name``, exporting only if no up-to-date one exists.

    For ``int8`` the key covers the calibration frames' names and contents, their count and
    the calibration method, so a changed calibration set gives a fresh export.

    The file name carries a hash of the weights' sha256, the options, the entry and the
    exporter's source code, so editing any of them gives a fresh export, while an unchanged
    setup reuses the file without importing PyTorch (default folder:
    ``~/.cache/seg_ros/onnx``).
    """
    entry = _entry(name)
    size = _input_size(entry, input_size)
    weights_sha = sha256_file(weights) if weights else entry.sha256
    calib_files = calibration_files(precision, calib_dir, calib_limit)
    options: dict[str, Any] = {
        'entry': repr(entry), 'weights': weights_sha, 'size': size, 'opset': opset,
        'confidence': confidence, 'simplify': simplify, 'code': _code_version(entry),
        'exporter': exporter}
    if precision != 'fp32':   # fp32 keys stay as they were: existing caches remain valid
        options['precision'] = precision
    if calib_files:
        options['calibration'] = calibration_description(calib_files, calib_method)
    if keep_float:
        options['keep_float'] = keep_float
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir else zoo.cache_dir() / 'onnx'
    folder.mkdir(parents=True, exist_ok=True)
    suffix = '' if precision == 'fp32' else f'-{precision}'
    path = folder / f'{entry.name}-{size[1]}x{size[0]}{suffix}-{key}.onnx'
    with _lock(path):
        if path.is_file():
            try:
                contract.check_onnx(str(path))
                return str(path)
            except contract.ContractError:
                pass  # damaged: export again
        return export_onnx(entry, path, size, opset, confidence, weights, simplify, exporter,
                           precision, calib_dir, calib_limit, calib_method, keep_float)
