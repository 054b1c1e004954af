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
``seg-ros evaluate``: per-class accuracy of a model on a labelled image folder.

An aggregate mIoU hides the failures that matter on a robot (a rare class such as pedestrian or
pole), and a model must be measured on data from its own domain. This tool runs the model
through the same backend code as the node, on frames converted the way the node converts them,
and reports every class on its own next to the summaries, plus the same metrics on functional
classes (traversable vs obstacle) when a taxonomy is given.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import sys
import time
from typing import Any, Optional, Sequence

import numpy as np

from seg_ros.common.images import ImageFileError, is_image_file, label_files, read_image
from seg_ros.offline import metrics

SCHEMA_VERSION = 1
FUNCTIONAL_IGNORE = 255


class EvaluationError(ValueError):
    """Bad input (folders, label files, taxonomy); the message names the file and the fix."""


# --- input ---------------------------------------------------------------------------------


def pair_files(images: Path, labels: Path, label_suffix: str = '') -> tuple[
        list[tuple[Path, Path]], list[str], list[str]]:
    """
    Pair images and label PNGs by file stem (``label = stem + label_suffix + .png``).

    Returns the pairs (sorted by name) and the stems found only on one side, so the caller can
    say what was skipped instead of silently scoring a subset.
    """
    for what, folder in (('image', images), ('label', labels)):
        if not folder.is_dir():
            raise EvaluationError(f'{what} folder not found: {folder}')
    imgs = {p.stem: p for p in sorted(images.iterdir()) if is_image_file(p)}
    labs = label_files(labels, label_suffix)
    pairs = [(imgs[s], labs[s]) for s in sorted(imgs.keys() & labs.keys())]
    return pairs, sorted(imgs.keys() - labs.keys()), sorted(labs.keys() - imgs.keys())


def colors_to_ids(rgb: np.ndarray, palette: np.ndarray, unknown: Optional[int],
                  source: str = 'label') -> np.ndarray:
    """
    Map an RGB label image to class ids through a palette (exact colour match).

    Colours that are in no palette entry become ``unknown`` (the ignore index) or raise, since
    guessing the nearest colour would silently mislabel pixels.
    """
    pal = np.asarray(palette, np.int64)
    keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    order = np.argsort(keys, kind='stable')        # first class wins on duplicate colours
    sorted_keys = keys[order]
    px = rgb[..., :3].astype(np.int64)
    code = (px[..., 0] << 16) | (px[..., 1] << 8) | px[..., 2]
    pos = np.clip(np.searchsorted(sorted_keys, code), 0, len(keys) - 1)
    found = sorted_keys[pos] == code
    ids = order[pos]
    if not found.all():
        if unknown is None:
            bad = code[~found][0]
            raise EvaluationError(
                f'{source}: colour rgb({bad >> 16}, {(bad >> 8) & 255}, {bad & 255}) is not in '
                'the model palette; pass --ignore-index N to ignore such pixels, or use '
                'class-id label PNGs')
        ids = np.where(found, ids, unknown)
    return ids.astype(np.int64)


def read_label(path: Path, palette: np.ndarray, colors: str = 'index',
               ignore_index: Optional[int] = None) -> np.ndarray:
    """
    Read a label PNG as class ids.

    Grey PNGs (8 or 16 bit) hold the ids. Palette PNGs hold an index per pixel and a colour
    table: ``colors='index'`` takes the index as the id (the PASCAL VOC convention),
    ``colors='palette'`` maps the index's colour through the model's palette. RGB PNGs are
    mapped through the model's palette, except with ``colors='values'`` (labels in other
    classes than the model's), which takes grey and palette indices only.
    """
    from PIL import Image

    try:
        img = Image.open(path)
        img.load()
    except (OSError, ValueError) as exc:
        raise EvaluationError(f'{path}: not a readable PNG ({exc})') from exc
    if img.mode == 'P' and colors in ('index', 'values'):
        return np.asarray(img).astype(np.int64)
    if colors == 'values' and img.mode in ('RGB', 'RGBA'):
        raise EvaluationError(f'{path}: an RGB label PNG has no class values to map with '
                              '--label-map/--label-taxonomy; write class values as a grey PNG')
    if img.mode in ('P', 'RGB', 'RGBA'):
        return colors_to_ids(np.asarray(img.convert('RGB')), palette, ignore_index,
                             source=str(path))
    if img.mode in ('L', 'LA', 'I', 'I;16', 'I;16B', 'I;16L', '1'):
        arr = np.asarray(img)        # an alpha channel (LA) is not part of the label
        return (arr[..., 0] if arr.ndim == 3 else arr).astype(np.int64)
    raise EvaluationError(f'{path}: unsupported label PNG mode {img.mode}; write class ids as '
                          'a grey (mode L) or palette PNG')


# --- functional classes --------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionalMap:
    """Model class id -> functional class id (-1 = not mapped), and the functional names."""

    lut: np.ndarray
    names: tuple[str, ...]

    def apply(self, labels: np.ndarray, ignore_index: Optional[int] = None,
              unmapped: int = FUNCTIONAL_IGNORE) -> np.ndarray:
        """
        Map a label image to functional ids.

        Ignored ids become 255 (not scored); unmapped and out-of-range ids become ``unmapped``:
        255 for labels, an extra unscored column for predictions, so that predicting an
        unmapped class still counts as a miss.
        """
        table = np.full(256 if labels.max(initial=0) < 256 else int(labels.max()) + 1,
                        unmapped, np.uint8)
        valid = self.lut >= 0
        table[np.flatnonzero(valid)] = self.lut[valid]
        if ignore_index is not None and 0 <= ignore_index < table.size:
            table[ignore_index] = FUNCTIONAL_IGNORE
        return table[labels]


def load_functional_map(spec: str, classes: Sequence[str]) -> FunctionalMap:
    """
    Resolve ``--taxonomy`` as the node's ``taxonomy`` parameter: a preset name or a YAML file.

    Functional ids and names come from :mod:`seg_ros.traversability.taxonomy`, so the evaluation
    scores the very classes the node projects into the grid.
    """
    try:
        from seg_ros.traversability import taxonomy
    except ImportError as exc:
        raise EvaluationError(f'--taxonomy {spec}: this install has no '
                              'seg_ros.traversability.taxonomy module') from exc
    try:
        tax = taxonomy.load(taxonomy.resolve(spec), classes)
    except taxonomy.TaxonomyError as exc:  # its message names the entry and the valid names
        raise EvaluationError(f'--taxonomy {spec}: {exc}') from exc
    lut = np.asarray(tax.lut, np.int64)[:len(classes)]
    return FunctionalMap(lut, tuple(tax.names))


# --- labels in other classes ---------------------------------------------------------------


@dataclass(frozen=True)
class LabelMapping:
    """Label value (every 16-bit value) -> model class (LABEL_IGNORE: not scored, -1: none)."""

    lut: np.ndarray
    description: str

    def apply(self, values: np.ndarray, source: str) -> np.ndarray:
        """Map one label image; a value that is in no class list is an error naming the file."""
        mapped = self.lut[values]      # the table covers every 16-bit PNG value
        if not (mapped < 0).any():
            return mapped
        bad = np.unique(values[mapped < 0])
        raise EvaluationError(f'{source}: label value(s) {", ".join(map(str, bad[:8].tolist()))} '
                              f'are in no label class ({self.description}); check '
                              '--label-dataset/--label-classes and --ignore-index')


LABEL_IGNORE = 255   # mapped label of an ignored pixel (a model has at most 254 classes here)


def load_label_mapping(model_classes: Sequence[str], classes_file: str = '', preset: str = '',
                       ignore: Optional[int] = None, label_map: str = '',
                       taxonomy: str = '') -> LabelMapping:
    """
    Say how label values become the model's classes, with ``seg-ros finetune``'s class options.

    The labels' own classes come from a dataset preset or a class file, and a label map or a
    functional taxonomy maps them by name onto the model's classes: a functional model (trained
    with ``finetune --taxonomy``) or a merged one (``--label-map``) is then scored against the
    original label PNGs. Every class the labels map to must be one of the model's.
    """
    from seg_ros.offline.training import data as td
    from seg_ros.traversability.taxonomy import normalised_name

    if not (classes_file or preset):
        raise EvaluationError('--label-map and --label-taxonomy need to know what the label '
                              'values mean: add --label-dataset PRESET or --label-classes FILE')
    if len(model_classes) > LABEL_IGNORE:
        raise EvaluationError(f'the model has {len(model_classes)} classes; a label mapping '
                              f'scores models of at most {LABEL_IGNORE} (class {LABEL_IGNORE} '
                              'would read as ignored)')
    ours = td.OptionNames(classes='--label-classes', dataset='--label-dataset',
                          ignore='--ignore-index', label_map='--label-map',
                          taxonomy='--label-taxonomy')
    try:
        spec = td.class_spec(td.read_classes_file(classes_file) if classes_file else None,
                             preset, ignore, label_map, taxonomy, ours)
    except td.DataError as exc:
        raise EvaluationError(f'labels: {exc}') from exc
    by_name = {normalised_name(c): i for i, c in enumerate(model_classes)}
    missing = [c for c in spec.classes if normalised_name(c) not in by_name]
    if missing:
        raise EvaluationError(
            f'labels: {spec.mapping} gives class(es) {", ".join(missing)}, which the model '
            f'does not predict (its classes: {", ".join(model_classes)}); map onto the '
            "model's class names")
    to_model = np.array([by_name[normalised_name(c)] for c in spec.classes], np.int64)
    lut = spec.lut.astype(np.int64)
    valid = (lut >= 0) & (lut != td.IGNORE)
    lut[valid] = to_model[lut[valid]]
    lut[lut == td.IGNORE] = LABEL_IGNORE
    values = len(spec.source_classes)
    return LabelMapping(lut, f'{values} label classes of '
                        f'{preset or classes_file}, ignore {spec.ignore}; {spec.mapping}')


# --- evaluation ----------------------------------------------------------------------------


@dataclass
class Accumulator:
    """Confusion matrix and boundary counts summed over images (O(C^2) memory)."""

    num_classes: int
    ignore_index: Optional[int]
    tolerance: float
    cm: np.ndarray = field(init=False)
    boundary: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.cm = np.zeros((self.num_classes, self.num_classes), np.int64)
        self.boundary = np.zeros((self.num_classes, 4), np.int64)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Count one image."""
        self.cm += metrics.confusion_matrix(pred, gt, self.num_classes, self.ignore_index)
        self.boundary += metrics.boundary_counts(pred, gt, self.num_classes, self.tolerance,
                                                 self.ignore_index)


@dataclass
class Result:
    """What one evaluation produced, ready to print, plot and write."""

    classes: tuple[str, ...]
    scored: list[int]
    scores: metrics.Scores
    cm: np.ndarray
    images: int
    infer_ms: list[float]
    functional: Optional[metrics.Scores] = None
    functional_cm: Optional[np.ndarray] = None
    label_mapping: str = ''      # how label values became the model's classes ('' = as is)


def evaluate(backend: Any, pairs: Sequence[tuple[Path, Path]], ignore_index: Optional[int],
             tolerance: float = 2.0, colors: str = 'index',
             functional: Optional[FunctionalMap] = None, progress: Optional[bool] = None,
             label_mapping: Optional[LabelMapping] = None) -> Result:
    """
    Run ``backend`` over the pairs and score it (the importable core of the command).

    With ``label_mapping`` the label PNGs hold values of other classes, mapped per pixel onto
    the model's (their ignore value is the mapping's; ``ignore_index`` is not used then).
    """
    from tqdm import tqdm

    info = backend.info
    n = info.num_classes
    if label_mapping is not None:
        ignore_index = LABEL_IGNORE
    if ignore_index is not None and not 0 <= ignore_index <= 255:
        raise EvaluationError(f'--ignore-index {ignore_index} must be in 0..255')
    acc = Accumulator(n, ignore_index, tolerance)
    nf = len(functional.names) if functional else 0
    facc = Accumulator(nf + 1, FUNCTIONAL_IGNORE, tolerance) if functional else None
    times = []
    for image_path, label_path in tqdm(pairs, desc='evaluate', unit='img',
                                       disable=None if progress is None else not progress):
        rgb = read_image(image_path)  # contiguous RGB, as the node hands frames over
        if label_mapping is None:
            gt = read_label(label_path, info.palette, colors, ignore_index)
        else:
            gt = label_mapping.apply(read_label(label_path, info.palette, 'values'),
                                     str(label_path))
        if gt.shape != rgb.shape[:2]:
            raise EvaluationError(
                f'{label_path}: label is {gt.shape[1]}x{gt.shape[0]} but image {image_path.name}'
                f' is {rgb.shape[1]}x{rgb.shape[0]}; labels must match their images pixel '
                'for pixel')
        t0 = time.perf_counter()
        pred = backend.infer(rgb).labels
        times.append(1e3 * (time.perf_counter() - t0))
        try:
            acc.add(pred, gt)
        except ValueError as exc:
            raise EvaluationError(f'{label_path}: {exc}') from exc
        if facc is not None and functional is not None:
            facc.add(functional.apply(pred, unmapped=nf), functional.apply(gt, ignore_index))
    scored = [c for c in range(n) if c != ignore_index]
    scores = metrics.Scores.from_counts(acc.cm, info.classes, scored, acc.boundary, tolerance)
    result = Result(info.classes, scored, scores, acc.cm, len(pairs), times,
                    label_mapping=label_mapping.description if label_mapping else '')
    if facc is not None and functional is not None:
        # The last column holds predictions of unmapped classes; it is not scored, and kept in
        # the matrix only when some class is unmapped.
        result.functional = metrics.Scores.from_counts(
            facc.cm, functional.names + ('(unmapped)',), range(nf), facc.boundary, tolerance)
        result.functional_cm = facc.cm if (functional.lut < 0).any() else facc.cm[:nf, :nf]
    return result


# --- output --------------------------------------------------------------------------------


def to_json(result: Result, args: argparse.Namespace, backend_desc: str) -> dict:
    """Return the ``--json`` document (schema in the README, "seg-ros evaluate")."""
    ms = np.asarray(result.infer_ms) if result.infer_ms else np.array([np.nan])
    out = {
        'schema_version': SCHEMA_VERSION,
        'model': str(args.model),
        'backend': backend_desc,
        'images_dir': str(args.images),
        'labels_dir': str(args.labels),
        'images': result.images,
        'ignore_index': args.ignore_index,
        'classes': list(result.classes),
        'scored_classes': result.scored,
        'metrics': result.scores.to_dict(),
        'confusion_matrix': result.cm.tolist(),
        'infer_ms': {'mean': round(float(np.mean(ms)), 3),
                     'p50': round(float(np.percentile(ms, 50)), 3)},
    }
    if result.label_mapping:
        out['label_mapping'] = result.label_mapping
    if result.functional is not None and result.functional_cm is not None:
        out['taxonomy'] = args.taxonomy
        out['functional'] = result.functional.to_dict()
        out['functional_confusion_matrix'] = result.functional_cm.tolist()
    return out


def write_plots(result: Result, folder: Path, title: str) -> list[Path]:
    """Write the confusion heat map and IoU bar charts (PNG, matplotlib Agg)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    idx = result.scored
    names = [result.classes[i] for i in idx]
    # Rows: scored classes; columns: every class the model can predict, so a prediction of an
    # unscored class (void) shows where it costs, and each row sums to 100 %.
    cols = [f'{c} (not scored)' if i not in idx else c for i, c in enumerate(result.classes)]
    cm = result.cm[idx].astype(np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = max(5.0, 0.45 * len(cols) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap='viridis', vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha='right')
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    ax.set_title(f'{title}: confusion (row-normalised)')
    if len(cols) <= 25:
        for i in range(len(names)):
            for j in range(len(cols)):
                if norm[i, j] >= 0.01:
                    ax.text(j, i, f'{100 * norm[i, j]:.0f}', ha='center', va='center',
                            fontsize=7, color='white' if norm[i, j] < 0.5 else 'black')
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    written.append(folder / 'confusion_matrix.png')
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    charts = [(result.scores, 'per_class_iou.png', 'per-class IoU')]
    if result.functional is not None:
        charts.append((result.functional, 'functional_iou.png', 'functional-class IoU'))
    for scores, name, what in charts:
        written.append(folder / name)
        _iou_bars(plt, scores, written[-1], f'{title}: {what}')
    return written


def _iou_bars(plt: Any, scores: metrics.Scores, path: Path, title: str) -> None:
    """Draw a bar per class with its IoU and the mean as a line; n/a marks unscorable ones."""
    iou = np.nan_to_num(scores.iou, nan=0.0)
    names = list(scores.names)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(names) + 2), 4.5))
    bars = ax.bar(range(len(names)), 100 * iou, color='tab:blue')
    ax.axhline(100 * scores.mean_iou, color='tab:red', linestyle='--',
               label=f'mIoU {100 * scores.mean_iou:.1f}')
    ax.bar_label(bars, [f'{100 * v:.0f}' if np.isfinite(v) else 'n/a' for v in scores.iou],
                 fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=60, ha='right')
    ax.set_ylabel('IoU (%)')
    ax.set_ylim(0, 105)
    ax.set_title(title)
    # Beside the axes: inside, it covered the bars (and their labels) on the right.
    ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches='tight')
    plt.close(fig)


# --- command -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', required=True, help='model in the seg_ros contract (.onnx, '
                        'or .engine with --backend tensorrt)')
    parser.add_argument('--images', required=True, type=Path, help='folder of frames')
    parser.add_argument('--labels', required=True, type=Path,
                        help='folder of label PNGs with the same file stems (class-id grey '
                        'PNGs, palette PNGs, or RGB PNGs in the model palette)')
    parser.add_argument('--ignore-index', type=int, default=None, metavar='N',
                        help='label value that is not scored (CamVid void: 11, Cityscapes: 255)')
    parser.add_argument('--taxonomy', default=None, metavar='T',
                        help='also score functional classes: a taxonomy preset name (e.g. '
                        'camvid) or YAML file, as the node\'s "taxonomy" parameter')
    parser.add_argument('--json', default=None, type=Path, metavar='OUT',
                        help='write all results as JSON')
    parser.add_argument('--plots', default=None, type=Path, metavar='DIR',
                        help='write confusion_matrix.png and per_class_iou.png')
    parser.add_argument('--tolerance', type=float, default=2.0, metavar='PX',
                        help='boundary F1 distance tolerance in pixels (default 2)')
    parser.add_argument('--label-colours', choices=('index', 'palette'), default='index',
                        help='palette PNG labels: take the palette index as the class id '
                        '(default), or map its colour through the model palette')
    g = parser.add_argument_group(
        "labels in other classes than the model's (the class options of seg-ros finetune)")
    g.add_argument('--label-dataset', default='', metavar='PRESET',
                   help="the label values are this dataset's classes (camvid, cityscapes, "
                   'rugd); --ignore-index defaults to its ignore value')
    g.add_argument('--label-classes', default='', metavar='FILE',
                   help='the label values are these classes (one name per line)')
    g.add_argument('--label-map', default='', metavar='YAML',
                   help='label class -> model class, as finetune --label-map (doc/tools.md)')
    g.add_argument('--label-taxonomy', default='', metavar='T',
                   help="the model predicts this taxonomy's functional classes (a model from "
                   'finetune --taxonomy T): label classes are mapped through it')
    parser.add_argument('--label-suffix', default='',
                        help='label file = image stem + this + .png (e.g. _L)')
    parser.add_argument('--limit', type=int, default=0, metavar='N',
                        help='evaluate only the first N pairs (0 = all)')
    parser.add_argument('--backend', default='onnxruntime', help='onnxruntime | tensorrt')
    parser.add_argument('--device', default='cpu', help='cpu | cuda')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads (0 = default)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    from seg_ros.inference.backend import BackendError, BackendOptions
    from seg_ros.inference.loader import create_backend

    try:
        if not os.path.isfile(args.model):
            raise EvaluationError(f'--model {args.model}: no such file; export one with '
                                  f'seg-ros export espnet_camvid -o {args.model}')
        pairs, only_img, only_lab = pair_files(args.images, args.labels, args.label_suffix)
        if not pairs:
            raise EvaluationError(
                f'no image in {args.images} has a label PNG of the same name in {args.labels}'
                + (f' (with suffix "{args.label_suffix}")' if args.label_suffix else ''))
        for what, stems in (('images without a label', only_img),
                            ('labels without an image', only_lab)):
            if stems:
                print(f'warning: {len(stems)} {what} skipped (e.g. {stems[0]})', file=sys.stderr)
        if args.limit > 0:
            pairs = pairs[:args.limit]
        backend = create_backend(args.backend, args.model, BackendOptions(
            threads=args.threads, device=args.device))
        functional = (load_functional_map(args.taxonomy, backend.info.classes)
                      if args.taxonomy else None)
        mapping = None
        if args.label_dataset or args.label_classes or args.label_map or args.label_taxonomy:
            if args.label_colours == 'palette':
                raise EvaluationError("--label-colours palette reads colours as the model's "
                                      'classes; with --label-dataset/--label-classes the labels '
                                      'hold values of their own classes: drop one of the two')
            mapping = load_label_mapping(backend.info.classes, args.label_classes,
                                         args.label_dataset, args.ignore_index, args.label_map,
                                         args.label_taxonomy)
            print(f'labels: {mapping.description}')
        t0 = time.perf_counter()
        result = evaluate(backend, pairs, args.ignore_index, args.tolerance,
                          args.label_colours, functional,
                          progress=False if args.no_progress else None, label_mapping=mapping)
        elapsed = time.perf_counter() - t0
    except (EvaluationError, ImageFileError, BackendError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    desc = backend.describe()
    print(f'{backend.info.name} on {result.images} images ({args.images}), {desc}, '
          f'{elapsed:.1f} s, {np.mean(result.infer_ms):.1f} ms/frame inference')
    print(result.scores.table())
    if result.functional is not None:
        print(f'\nfunctional classes ({args.taxonomy}):')
        print(result.functional.table())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(to_json(result, args, desc), indent=2) + '\n')
        print(f'wrote {args.json}')
    if args.plots:
        for path in write_plots(result, args.plots, backend.info.name):
            print(f'wrote {path}')
    backend.close()
    return 0
