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
Labelled frames for fine-tuning: class lists, label mappings, checked loading, augmentation.

A label PNG holds one value per pixel. What a value means comes from the class list (value
``i`` is class ``i``), ``ignore`` (a value that is not scored or learnt, CamVid's void 11,
255 by default) and an optional mapping onto the classes to train (merge or rename classes, or
map them onto the functional taxonomy). All of it is folded into one lookup table from label
value to training id, so a frame is remapped in one indexing operation and any value the
table does not cover is found and reported with its file.

Everything here is NumPy/OpenCV (no PyTorch), so it is tested and reused without the
``export`` extra.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import cv2
import numpy as np
from seg_ros.common.images import ImageFileError, is_image_file, label_files, read_image
from seg_ros.inference.contract import default_palette
from seg_ros.traversability.taxonomy import normalised_name
import yaml

IGNORE = 255        # training id of pixels that are neither learnt nor scored
_INVALID = -1       # lookup value of a label value that is in no class list
MAX_CLASSES = 254
Palette = tuple[tuple[int, int, int], ...]


class DataError(ValueError):
    """Bad training data or class options; the message names the file and what to do."""


# --- classes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A dataset's label convention: class names by value, colours, and its ignore value."""

    name: str
    classes: tuple[str, ...]
    palette: Palette
    ignore: int


def presets() -> dict[str, Preset]:
    """Return the dataset presets for ``--dataset``, built from the zoo's class lists."""
    from seg_ros.zoo.datasets.camvid import CAMVID_CLASSES, CAMVID_PALETTE
    from seg_ros.zoo.datasets.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
    from seg_ros.zoo.datasets.rugd import RUGD_CLASSES, RUGD_PALETTE

    return {
        # CamVid's label maps hold 0..10 and 11 = void (not a class to learn).
        'camvid': Preset('camvid', CAMVID_CLASSES[:11], CAMVID_PALETTE[:11], 11),
        'cityscapes': Preset('cityscapes', CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, 255),
        'rugd': Preset('rugd', RUGD_CLASSES, RUGD_PALETTE, 255),
    }


def read_classes_file(path: Union[str, Path]) -> tuple[str, ...]:
    """Read a class list: one name per line, line ``i`` (from 0) = label value ``i``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f'classes file not found: {path}; write one class name per line, the '
                        'first line for label value 0')
    names = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        name = line.split('#', 1)[0].strip()
        if not name:
            continue
        if name in names:
            raise DataError(f'{path}:{number}: class "{name}" is listed twice')
        names.append(name)
    if not names:
        raise DataError(f'{path}: no class names in it; write one name per line')
    return tuple(names)


@dataclass(frozen=True)
class ClassSpec:
    """The classes to train and how label values become training ids."""

    classes: tuple[str, ...]            # training classes, index = training id
    palette: Palette
    lut: np.ndarray                     # (65536,) int16: label value -> training id / IGNORE
    source_classes: tuple[str, ...]     # what label values mean (value i = source class i)
    ignore: int                         # the label value that is ignored
    mapping: str = ''                   # how sources became classes (for logs and metadata)
    taxonomy: Optional[dict[str, Any]] = None   # identity taxonomy for a functional model

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> list[str]:
        """Return one line per training class: the label values that feed it."""
        out = []
        for i, name in enumerate(self.classes):
            values = [v for v in range(len(self.source_classes)) if self.lut[v] == i]
            out.append(f'{i} {name}: ' + ', '.join(f'{v} {self.source_classes[v]}'
                                                   for v in values))
        return out


def _default_palette(n: int) -> Palette:
    return tuple((int(r), int(g), int(b)) for r, g, b in default_palette(n))


def _lut(source_to_train: Sequence[int], ignore: int) -> np.ndarray:
    lut = np.full(65536, _INVALID, np.int16)
    lut[:len(source_to_train)] = np.asarray(source_to_train, np.int16)
    lut[ignore] = IGNORE
    return lut


@dataclass(frozen=True)
class OptionNames:
    """The command-line options the class arguments came from: the messages cite these."""

    classes: str = '--classes'
    dataset: str = '--dataset'
    ignore: str = '--ignore'
    label_map: str = '--label-map'
    taxonomy: str = '--taxonomy'


FINETUNE_OPTIONS = OptionNames()   # seg-ros finetune's


def class_spec(classes: Optional[Sequence[str]] = None, preset: str = '',
               ignore: Optional[int] = None, label_map: str = '',
               taxonomy: str = '', options: OptionNames = FINETUNE_OPTIONS) -> ClassSpec:
    """
    Resolve the class options into a :class:`ClassSpec`.

    ``classes`` (a class list) or ``preset`` (a dataset name) say what label values mean;
    ``ignore`` defaults to the preset's (255 otherwise). ``label_map`` (a YAML file, see
    :func:`load_label_map`) or ``taxonomy`` (a functional taxonomy preset or file, as the node's
    ``taxonomy`` parameter) then map those classes onto the classes to train. ``options``: the
    option names a message should tell the user to change (another tool names them its way).
    """
    o = options
    table = presets()
    if preset and classes:
        raise DataError(f'give the label classes once: {o.classes} FILE or {o.dataset} PRESET')
    if preset:
        if preset not in table:
            raise DataError(f'unknown dataset preset "{preset}"; presets: '
                            f'{", ".join(sorted(table))} (or {o.classes} FILE)')
        p = table[preset]
        source, palette, default_ignore = p.classes, p.palette, p.ignore
    elif classes:
        source = tuple(str(c) for c in classes)
        palette, default_ignore = _default_palette(len(source)), 255
    else:
        raise DataError(f'say what the label values mean: {o.classes} FILE (one name per '
                        f'line) or {o.dataset} PRESET ({", ".join(sorted(table))})')
    ignore = default_ignore if ignore is None else int(ignore)
    if not 0 <= ignore <= 65535:
        raise DataError(f'{o.ignore} {ignore} must be a label value in 0..65535')
    if ignore < len(source):
        raise DataError(f'{o.ignore} {ignore} is the label value of class "{source[ignore]}"; '
                        'the ignore value must not be a class (e.g. 255, or CamVid void 11 '
                        'with the 11 CamVid classes)')
    if len(source) > MAX_CLASSES:
        raise DataError(f'{len(source)} classes; at most {MAX_CLASSES}')
    if label_map and taxonomy:
        raise DataError(f'give either {o.label_map} or {o.taxonomy}, not both')
    if taxonomy:
        return _taxonomy_spec(source, ignore, taxonomy, o.taxonomy)
    if label_map:
        return load_label_map(label_map, source, palette, ignore)
    return ClassSpec(source, palette, _lut(range(len(source)), ignore), source, ignore,
                     'label values as classes')


def load_label_map(path: Union[str, Path], source: Sequence[str], palette: Palette,
                   ignore: int) -> ClassSpec:
    """
    Read a label-mapping YAML that merges or renames the label classes.

    Format::

        classes: [floor, wall, person]   # optional: the classes to train, in this order
        mapping:                         # label class name (or value) -> class, or "ignore"
          road: floor
          sidewalk: floor
          building: wall
          pedestrian: person
        default: ignore                  # optional: for every label class not in mapping

    Without ``classes:`` the trained classes are the mapping's targets in order of first
    appearance. A class that keeps its name keeps its colour.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f'label map not found: {path}')
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataError(f'{path}: not valid YAML ({exc})') from exc
    if not isinstance(spec, Mapping) or not isinstance(spec.get('mapping', {}), Mapping):
        raise DataError(f'{path}: a label map is a mapping with "mapping:" (label class -> '
                        'class), and optional "classes:" and "default:"')
    extra = sorted(set(spec) - {'classes', 'mapping', 'default'})
    if extra:
        raise DataError(f'{path}: unknown key(s) {extra}; valid: classes, mapping, default')
    mapping = spec.get('mapping') or {}
    targets = [str(c) for c in spec.get('classes') or []]
    if not targets:
        for value in list(mapping.values()) + [spec.get('default')]:
            if value is not None and str(value) != 'ignore' and str(value) not in targets:
                targets.append(str(value))
    if not targets:
        raise DataError(f'{path}: maps every class to "ignore"; nothing to train')
    if len(set(targets)) != len(targets):
        raise DataError(f'{path}: "classes" lists a class twice')
    tid = {t: i for i, t in enumerate(targets)}

    def target(value: Any, where: str) -> int:
        if str(value) == 'ignore':
            return IGNORE
        if str(value) not in tid:
            raise DataError(f'{path}: {where} maps to "{value}", which is not in classes: '
                            f'{", ".join(targets)} (or "ignore")')
        return tid[str(value)]

    by_name = {normalised_name(c): i for i, c in enumerate(source)}
    table: list[Optional[int]] = [None] * len(source)
    for key, value in mapping.items():
        if isinstance(key, int) and not isinstance(key, bool):
            idx = key if 0 <= key < len(source) else None
        else:
            idx = by_name.get(normalised_name(str(key)))
        if idx is None:
            raise DataError(f'{path}: mapping names label class "{key}", which is not one of the '
                            f'label classes: {", ".join(source)}')
        if table[idx] is not None:
            raise DataError(f'{path}: label class "{source[idx]}" is mapped twice')
        table[idx] = target(value, f'mapping["{key}"]')
    missing = [source[i] for i, v in enumerate(table) if v is None]
    if missing:
        if 'default' not in spec:
            raise DataError(f'{path}: label class(es) {", ".join(missing)} are not mapped; map '
                            'each, or add "default: ignore" (or a class name)')
        d = target(spec['default'], '"default"')
        table = [d if v is None else v for v in table]
    old = {c: palette[i] for i, c in enumerate(source)}
    spare = _default_palette(len(targets) + 1)[1:]
    pal = tuple(old.get(t, spare[i]) for i, t in enumerate(targets))
    ids = [int(v) for v in table if v is not None]    # every class is mapped by now
    return ClassSpec(tuple(targets), pal, _lut(ids, ignore), tuple(source), ignore,
                     f'label map {path}')


def _taxonomy_spec(source: Sequence[str], ignore: int, spec: str,
                   option: str = FINETUNE_OPTIONS.taxonomy) -> ClassSpec:
    """Map the label classes onto a functional taxonomy (train a navigation model)."""
    from seg_ros.traversability import taxonomy

    try:
        path = taxonomy.resolve(spec)
        tax = taxonomy.load(path, source)
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except taxonomy.TaxonomyError as exc:
        raise DataError(f'{option} {spec}: {exc}') from exc
    names = tax.names
    palette = tuple((int(r), int(g), int(b)) for r, g, b in tax.palette.tolist())
    # The trained model predicts functional classes directly; the node then needs the identity
    # taxonomy over them, with the same costs, colours and types.
    identity = {'classes': raw.get('classes') or {},
                'mapping': {n: n for n in names}}
    return ClassSpec(tuple(names), palette, _lut(tax.lut[:len(source)].tolist(), ignore),
                     tuple(source), ignore, f'functional taxonomy {path}', identity)


# --- loading and checking ------------------------------------------------------------------


@dataclass
class Split:
    """A loaded, checked split: RGB frames and training-id label maps (uint8, IGNORE=255)."""

    names: list[str]
    images: list[np.ndarray]
    labels: list[np.ndarray]
    folder: Path

    def __len__(self) -> int:
        return len(self.names)


def read_label_values(path: Path) -> np.ndarray:
    """Return a label PNG's values (grey 8/16 bit, or the index of a palette PNG)."""
    from PIL import Image

    try:
        img = Image.open(path)
        img.load()
    except (OSError, ValueError) as exc:
        raise DataError(f'{path}: not a readable label image ({exc})') from exc
    if img.mode in ('P', 'L', 'I', 'I;16', 'I;16B', 'I;16L'):
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise DataError(f'{path}: label values outside 0..65535')
        return arr.astype(np.int64)
    raise DataError(f'{path}: a label image must hold one class value per pixel (grey or '
                    f'palette PNG); this one is {img.mode} (colour?). Convert colour labels '
                    'to class-id PNGs first')


def pair_folder(images: Path, labels: Path, label_suffix: str = '') -> list[tuple[Path, Path]]:
    """
    Pair every image with the label ``stem + label_suffix + .png``; any unpaired file is an error.

    Training on a silent subset hides a labelling job that went wrong, so a frame without a
    label (or a label without a frame) stops the run with its name.
    """
    for what, folder in (('image', images), ('label', labels)):
        if not folder.is_dir():
            raise DataError(f'{what} folder not found: {folder}')
    imgs = {p.stem: p for p in sorted(images.iterdir()) if is_image_file(p)}
    if not imgs:
        raise DataError(f'no images in {images} (empty split); put the frames there')
    labs = label_files(labels, label_suffix)
    if not labs:
        raise DataError(f'no label PNGs in {labels} (empty split)')
    no_label = sorted(imgs.keys() - labs.keys())
    if no_label:
        raise DataError(f'{imgs[no_label[0]]} has no label {labels / (no_label[0] + label_suffix)}'
                        f'.png ({len(no_label)} image(s) without a label); label it or move it '
                        'out of the folder')
    no_image = sorted(labs.keys() - imgs.keys())
    if no_image:
        raise DataError(f'{labs[no_image[0]]} has no image of the same name in {images} '
                        f'({len(no_image)} label(s) without an image)')
    return [(imgs[s], labs[s]) for s in sorted(imgs)]


def load_split(images: Union[str, Path], labels: Union[str, Path], spec: ClassSpec,
               label_suffix: str = '', limit: int = 0) -> Split:
    """Read and check a split; every problem raises :class:`DataError` naming the file."""
    pairs = pair_folder(Path(images), Path(labels), label_suffix)
    if limit > 0:
        pairs = pairs[:limit]
    out = Split([], [], [], Path(images))
    for image_path, label_path in pairs:
        try:
            rgb = read_image(image_path)
        except ImageFileError as exc:
            raise DataError(str(exc)) from exc
        raw = read_label_values(label_path)
        if raw.shape != rgb.shape[:2]:
            raise DataError(f'{label_path}: label is {raw.shape[1]}x{raw.shape[0]} but image '
                            f'{image_path.name} is {rgb.shape[1]}x{rgb.shape[0]}; labels must '
                            'match their images pixel for pixel')
        ids = spec.lut[raw]
        if (ids == _INVALID).any():
            bad = np.unique(raw[ids == _INVALID])
            shown = ', '.join(str(int(v)) for v in bad[:5]) + (' ...' if bad.size > 5 else '')
            raise DataError(
                f'{label_path}: label value(s) {shown} are not in the class list (values '
                f'0..{len(spec.source_classes) - 1}: {", ".join(spec.source_classes)}; ignore '
                f'{spec.ignore}); fix the label, add the class, or pass --ignore for void')
        out.names.append(image_path.stem)
        out.images.append(rgb)
        out.labels.append(ids.astype(np.uint8))
    return out


# --- class weights -------------------------------------------------------------------------


def class_pixel_counts(labels: Sequence[np.ndarray], num_classes: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """
    Return per class: its pixel count, and the labelled pixels of the images it appears in.

    Ignored pixels count in neither.
    """
    pixels = np.zeros(num_classes, np.int64)
    image_pixels = np.zeros(num_classes, np.int64)
    for lab in labels:
        counts = np.bincount(lab.reshape(-1), minlength=256)[:num_classes]
        pixels += counts
        image_pixels[counts > 0] += int(counts.sum())
    return pixels, image_pixels


def median_frequency_weights(labels: Sequence[np.ndarray], num_classes: int) -> np.ndarray:
    """
    Return median-frequency balancing weights (Eigen and Fergus, ICCV 2015).

    ``freq(c)`` = pixels of class c / labelled pixels of the images where c appears, and
    ``weight(c) = median(freq) / freq(c)``, the median over the classes that appear: the
    class of median frequency weighs 1, a class ten times rarer 10. A class absent from the
    training labels gets weight 0 (it has no pixel to weigh).
    """
    pixels, image_pixels = class_pixel_counts(labels, num_classes)
    present = pixels > 0
    weights = np.zeros(num_classes, np.float64)
    if not present.any():
        return weights
    freq = pixels[present] / image_pixels[present]
    weights[present] = np.median(freq) / freq
    return weights


# --- augmentation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Random scale, crop, flip and photometric jitter for one training sample."""

    crop: tuple[int, int]                      # (height, width)
    scale: tuple[float, float] = (0.75, 1.5)
    flip: bool = True
    jitter: float = 0.25                       # brightness/contrast/saturation +- fraction
    hue: int = 6                               # hue shift +- (OpenCV hue units, 0..179)

    def __call__(self, rgb: np.ndarray, label: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Return an augmented ``(crop_h, crop_w, 3)`` uint8 frame and its label crop."""
        h, w = label.shape
        s = float(rng.uniform(*self.scale))
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
        lab = cv2.resize(label, (nw, nh), interpolation=cv2.INTER_NEAREST)
        ch, cw = self.crop
        if nh < ch or nw < cw:          # pad: black frame, ignored labels
            ph, pw = max(ch - nh, 0), max(cw - nw, 0)
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            lab = cv2.copyMakeBorder(lab, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=IGNORE)
        y = int(rng.integers(0, img.shape[0] - ch + 1))
        x = int(rng.integers(0, img.shape[1] - cw + 1))
        img, lab = img[y:y + ch, x:x + cw], lab[y:y + ch, x:x + cw]
        if self.flip and rng.random() < 0.5:
            img, lab = img[:, ::-1], lab[:, ::-1]
        if self.jitter > 0 or self.hue > 0:
            img = self.photometric(img, rng)
        return np.ascontiguousarray(img), np.ascontiguousarray(lab)

    def photometric(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Jitter brightness, contrast, saturation (random order of none) and hue."""
        j = self.jitter
        out = rgb.astype(np.float32)
        if j > 0:
            b, c, s = rng.uniform(1 - j, 1 + j, 3)
            out *= b
            out = (out - out.mean()) * c + out.mean()
            grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
            out = grey[..., None] + (out - grey[..., None]) * s
        img: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
        if self.hue > 0:
            shift = int(rng.integers(-self.hue, self.hue + 1))
            if shift:
                hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
                hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
                img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return img


def sample_rng(seed: int, epoch: int, position: int) -> np.random.Generator:
    """Return the generator for one sample: the same seed, epoch and position, the same crop."""
    return np.random.default_rng([seed, epoch, position])


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """Return the shuffled sample order of an epoch (a function of seed and epoch only)."""
    return np.random.default_rng([seed, epoch, 1 << 20]).permutation(n)


def normalise(batch: np.ndarray, mean: Sequence[float], std: Sequence[float], scale: float,
              bgr: bool) -> np.ndarray:
    """Return NCHW float32 network input for NHWC uint8 RGB frames (the zoo's normalisation)."""
    x = batch[..., ::-1] if bgr else batch
    x = (x.astype(np.float32) - np.asarray(mean, np.float32)) * (
        np.float32(scale) / np.asarray(std, np.float32))
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
