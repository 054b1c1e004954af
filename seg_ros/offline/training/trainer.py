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
Fine-tune a zoo network on labelled frames and export the best epoch into the contract.

One run folder holds everything a run produces, so a run can be inspected, resumed and
compared afterwards:

- ``log.csv`` and ``log.json``: per epoch the training loss, learning rate, time and
  throughput, and the validation scores (per-class IoU, mIoU, accuracies) computed by
  :mod:`seg_ros.offline.metrics` (the code of ``seg-ros evaluate``) on frames run through the
  contract wrapper, i.e. the very graph the export writes;
- ``last.ckpt``: model, optimiser and scaler state after the last finished epoch (``resume``);
- ``best.pth``: the network's state_dict at the best validation mIoU (what is exported);
- ``curves.png``: loss, mIoU and per-class IoU per epoch;
- ``model.onnx``: ``best.pth`` exported by :func:`seg_ros.zoo.export.export_onnx` (classes,
  palette, dataset metadata, precision), ready for the node; with a taxonomy mapping also
  ``taxonomy.yaml``, the identity taxonomy the node needs for the functional classes.

Determinism: the shuffling and every sample's augmentation are functions of (seed, epoch,
position), and the new classifier is initialised after seeding PyTorch, so a run and a resumed
run see the same batches; on a CPU with the same thread count they end with the same weights.
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field, replace
import json
import math
import os
from pathlib import Path
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np
from seg_ros import zoo
from seg_ros.offline import metrics
from seg_ros.offline.training import data as td
from seg_ros.offline.training.losses import lr_factor, segmentation_loss

CHECKPOINT_FORMAT = 1
OPTIMIZERS = ('adamw', 'sgd')
CLASS_WEIGHTS = ('median', 'none')
DEFAULT_LR = {'adamw': 1e-3, 'sgd': 1e-2}
FINETUNED_FACTORY = 'seg_ros.zoo.networks.finetuned:network'


class FinetuneError(RuntimeError):
    """The run cannot go on; the message says what was wrong and what to do."""


@dataclass
class Options:
    """Everything that defines a run (the command line, as data)."""

    base: str
    train_images: Path
    train_labels: Path
    val_images: Path
    val_labels: Path
    out: Path
    classes: Optional[Sequence[str]] = None
    dataset: str = ''
    ignore: Optional[int] = None
    label_map: str = ''
    taxonomy: str = ''
    label_suffix: str = ''
    weights: Optional[str] = None
    size: Optional[tuple[int, int]] = None     # network (height, width): validation, export
    crop: Optional[tuple[int, int]] = None     # training crop (height, width)
    scale: tuple[float, float] = (0.75, 1.5)
    flip: bool = True
    jitter: float = 0.25
    epochs: int = 20
    batch: int = 8
    optimizer: str = 'adamw'
    lr: float = 0.0                            # 0: DEFAULT_LR of the optimiser
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = 'poly'
    warmup: int = -1                           # steps; -1: 5 % of the run
    class_weights: str = 'median'
    loss: str = 'ce'
    dice: float = 0.0
    seed: int = 0
    threads: int = 0
    device: str = 'cpu'
    resume: bool = False
    stop_after: int = 0                        # stop after this many epochs of this call
    limit_train: int = 0
    limit_val: int = 0
    name: str = ''
    export: bool = True
    precision: str = 'fp32'
    calib: str = ''
    calib_count: int = 0
    progress: Optional[bool] = None


@dataclass
class Result:
    """What a run produced."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_miou: float
    out: Path
    model: Optional[Path] = None
    files: list[Path] = field(default_factory=list)


def _check_options(o: Options) -> None:
    if o.optimizer not in OPTIMIZERS:
        raise FinetuneError(f'--optimizer {o.optimizer}: choose one of {", ".join(OPTIMIZERS)}')
    if o.class_weights not in CLASS_WEIGHTS:
        raise FinetuneError(f'--class-weights {o.class_weights}: choose one of '
                            f'{", ".join(CLASS_WEIGHTS)}')
    if o.stop_after < 0:
        raise FinetuneError(f'--stop-after {o.stop_after} must be >= 0 (0 = run to the end)')
    if o.epochs < 1 or o.batch < 1:
        raise FinetuneError(f'--epochs ({o.epochs}) and --batch ({o.batch}) must be >= 1')
    if not 0 < o.scale[0] <= o.scale[1]:
        raise FinetuneError(f'--scale {o.scale[0]} {o.scale[1]}: need 0 < MIN <= MAX')
    if o.dice < 0 or o.jitter < 0 or o.lr < 0:
        raise FinetuneError('--dice, --jitter and --lr must be >= 0')
    if o.export:   # now, not after hours of training
        from seg_ros.zoo.export import calibration_files, ExportError
        try:
            calibration_files(o.precision, o.calib, o.calib_count)
        except ExportError as exc:
            raise FinetuneError(f'export options: {exc}') from exc


def _network_size(o: Options, entry: zoo.ZooEntry, first: np.ndarray) -> tuple[int, int]:
    """Return the network size: the option, else the frames' own size rounded to the multiple."""
    m = entry.size_multiple
    if o.size:
        h, w = o.size
        if h % m or w % m:
            raise FinetuneError(f'--size {w}x{h}: {entry.name} needs multiples of {m}')
        return h, w
    h, w = first.shape[:2]
    return max(m, h // m * m), max(m, w // m * m)


def finetuned_entry(base: zoo.ZooEntry, spec: td.ClassSpec, size: Sequence[int], name: str,
                    dataset: str) -> zoo.ZooEntry:
    """
    Return the zoo entry of a fine-tuned model, for :func:`seg_ros.zoo.export.export_onnx`.

    It is the base entry (normalisation, licence, attribution, size multiple) with the new
    classes, colours and dataset, and a factory that rebuilds the trained architecture (the
    base network, plus the new classifier when the class count changed).
    """
    n_base = len(base.classes)
    return replace(
        base, name=name, factory=FINETUNED_FACTORY,
        factory_kwargs={'base': base.factory, 'base_kwargs': dict(base.factory_kwargs),
                        'base_classes': n_base,
                        'classes': 0 if spec.num_classes == n_base else spec.num_classes},
        dataset=dataset, classes=spec.classes, palette=spec.palette,
        input_size=(int(size[0]), int(size[1])), weights_file='best.pth',
        url=f'seg-ros finetune of {base.name} ({base.url})', sha256='',
        notes=f'fine-tuned from {base.name}; {spec.mapping}')


def _init_head(head: Any, base_classes: Sequence[str], classes: Sequence[str]) -> int:
    """
    Start the new classifier from the base classes of the same name.

    A new class whose name matches a base class copies that class's score (weight 1, bias 0),
    so the network predicts it well from the first step; the other rows keep PyTorch's random
    initialisation. Returns how many classes matched.
    """
    import torch
    from seg_ros.traversability.taxonomy import normalised_name

    by_name = {normalised_name(c): j for j, c in enumerate(base_classes)}
    matched = 0
    with torch.no_grad():
        for i, c in enumerate(classes):
            j = by_name.get(normalised_name(c))
            if j is not None:
                head.weight[i].zero_()
                head.weight[i, j] = 1.0
                head.bias[i] = 0.0
                matched += 1
    return matched


def _save_atomic(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + '.part')
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _config(o: Options, spec: td.ClassSpec, size: Sequence[int], crop: Sequence[int],
            lr: float, warmup: int, total: int) -> dict[str, Any]:
    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(o).items()}
    cfg.pop('progress', None)
    cfg.update(classes_trained=list(spec.classes), label_classes=list(spec.source_classes),
               ignore=spec.ignore, mapping=spec.mapping, network_size=list(size),
               crop=list(crop), lr=lr, warmup=warmup, total_steps=total)
    return cfg


# Options that must not change between a run and its resumption.
_RESUME_KEYS = ('base', 'classes_trained', 'network_size', 'batch', 'seed')


def finetune(o: Options, log: Callable[[str], None] = print) -> Result:
    """
    Run (or resume) a fine-tuning run into ``o.out``; see the module docstring.

    PyTorch's thread count and determinism switch are process-wide: they are restored on
    return, so a caller (a test session, a notebook) is left as it was.
    """
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        return _finetune(o, log)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _finetune(o: Options, log: Callable[[str], None]) -> Result:
    _check_options(o)
    spec = td.class_spec(o.classes, o.dataset, o.ignore, o.label_map, o.taxonomy)
    entry = zoo.get(o.base)
    out = Path(o.out)
    ckpt_path, best_path = out / 'last.ckpt', out / 'best.pth'
    if o.resume and not ckpt_path.is_file():
        raise FinetuneError(f'--resume: {ckpt_path} not found; start the run without --resume')
    if not o.resume and ckpt_path.exists():
        raise FinetuneError(f'{out} already holds a run ({ckpt_path.name}); pass --resume to '
                            'continue it, or choose another folder')
    train = td.load_split(o.train_images, o.train_labels, spec, o.label_suffix, o.limit_train)
    val = td.load_split(o.val_images, o.val_labels, spec, o.label_suffix, o.limit_val)
    if len(train) < o.batch:
        raise FinetuneError(f'{o.train_images}: {len(train)} training frame(s) for a batch of '
                            f'{o.batch}; lower --batch or add frames')
    size = _network_size(o, entry, val.images[0])
    crop = o.crop or size
    steps_per_epoch = len(train) // o.batch      # whole batches: batch norm needs them
    total = steps_per_epoch * o.epochs
    warmup = o.warmup if o.warmup >= 0 else int(0.05 * total)
    lr = o.lr or DEFAULT_LR[o.optimizer]
    cfg = _config(o, spec, size, crop, lr, warmup, total)

    import torch

    torch.manual_seed(o.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device(o.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise FinetuneError('--device cuda: PyTorch sees no CUDA device here; use --device cpu')
    if device.type == 'cpu':
        torch.set_num_threads(o.threads or os.cpu_count() or 1)
    from seg_ros.zoo.export import build_network
    from seg_ros.zoo.networks.finetuned import Relabelled
    from seg_ros.zoo.networks.wrapper import ContractWrapper

    try:
        net = build_network(entry, o.weights)       # base weights, loaded strictly
    except (zoo.ZooError, ValueError) as exc:
        raise FinetuneError(f'{o.base}: {exc}') from exc
    n_base = len(entry.classes)
    if spec.num_classes != n_base:
        net = Relabelled(net, n_base, spec.num_classes)
        matched = _init_head(net.head, entry.classes, spec.classes)
        log(f'new classifier {n_base} -> {spec.num_classes} classes over {entry.name} '
            f'({matched} started from the base class of the same name)')
    net = net.to(device).train()
    if o.class_weights == 'median':
        cw = td.median_frequency_weights(train.labels, spec.num_classes)
        log('class weights (median frequency): ' + ', '.join(
            f'{c} {w:.2f}' for c, w in zip(spec.classes, cw)))
        weight: Optional[torch.Tensor] = torch.tensor(cw, dtype=torch.float32, device=device)
    else:
        cw, weight = np.ones(spec.num_classes), None
    if o.optimizer == 'adamw':
        opt: torch.optim.Optimizer = torch.optim.AdamW(net.parameters(), lr=lr,
                                                       weight_decay=o.weight_decay)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=o.momentum,
                              weight_decay=o.weight_decay, nesterov=o.momentum > 0)
    amp = device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=amp)
    history: list[dict[str, Any]] = []
    best_miou, best_epoch, start_epoch, step = -1.0, 0, 0, 0
    if o.resume:
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        old = state.get('config', {})
        changed = [k for k in _RESUME_KEYS if old.get(k) != cfg.get(k)]
        if changed:
            raise FinetuneError(f'--resume: {", ".join(changed)} differ from the saved run '
                                f'({ckpt_path}); resume with the same options')
        net.load_state_dict(state['model'])
        opt.load_state_dict(state['optimizer'])
        scaler.load_state_dict(state['scaler'])
        history, step, start_epoch = state['history'], state['step'], state['epoch']
        best_miou, best_epoch = state['best_miou'], state['best_epoch']
        log(f'resuming {out} after epoch {start_epoch} (step {step})')
    out.mkdir(parents=True, exist_ok=True)
    aug = td.Augment(crop=(int(crop[0]), int(crop[1])), scale=o.scale, flip=o.flip,
                     jitter=o.jitter, hue=6 if o.jitter > 0 else 0)
    norm = entry.normalization
    align = str(entry.extra.get('align_corners', 'false')).lower() == 'true'
    log(f'{entry.name} -> {spec.num_classes} classes ({spec.mapping}); {len(train)} training, '
        f'{len(val)} validation frames; network {size[1]}x{size[0]}, crops '
        f'{crop[1]}x{crop[0]}; {steps_per_epoch} steps/epoch x {o.epochs} epochs; '
        f'{o.optimizer} lr {lr:g}, {o.schedule}, warm-up {warmup} steps; loss {o.loss}'
        + (f' + {o.dice:g} dice' if o.dice else '') + f'; {device.type}'
        + (f' {torch.get_num_threads()} threads' if device.type == 'cpu' else ', AMP'))
    from tqdm import tqdm

    for epoch in range(start_epoch, o.epochs):
        t0 = time.perf_counter()
        order = td.epoch_order(o.seed, epoch, len(train))
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f'epoch {epoch + 1}/{o.epochs}', unit='step',
                   disable=None if o.progress is None else not o.progress, leave=False)
        for s in bar:
            idx = order[s * o.batch:(s + 1) * o.batch]
            pairs = [aug(train.images[i], train.labels[i],
                         td.sample_rng(o.seed, epoch, s * o.batch + k))
                     for k, i in enumerate(idx)]
            x = torch.from_numpy(td.normalise(np.stack([p[0] for p in pairs]), norm.mean,
                                              norm.std, norm.scale, norm.bgr)).to(device)
            y = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64)).to(device)
            for g in opt.param_groups:
                g['lr'] = lr * lr_factor(step, total, warmup, o.schedule)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                logits = net(x)
            loss = segmentation_loss(logits, y, weight, o.loss, o.dice)
            if not torch.isfinite(loss):
                raise FinetuneError(f'epoch {epoch + 1}, step {step}: the loss is {loss.item()}; '
                                    'lower --lr (or use --optimizer sgd)')
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            losses.append(float(loss.item()))
            step += 1
            elapsed = time.perf_counter() - t0
            bar.set_postfix(loss=f'{np.mean(losses[-20:]):.3f}',
                            img_s=f'{(s + 1) * o.batch / elapsed:.2f}')
        bar.close()
        train_s = time.perf_counter() - t0
        cm = validate(ContractWrapper(net, size, norm, confidence=False, align_corners=align,
                                      fast_prelu=False), val, spec.num_classes, device)
        net.train()
        scores = metrics.Scores.from_counts(cm, spec.classes)
        epoch_s = time.perf_counter() - t0
        row = {'epoch': epoch + 1, 'step': step, 'lr': opt.param_groups[0]['lr'],
               'train_loss': float(np.mean(losses)) if losses else float('nan'),
               'val_miou': scores.mean_iou, 'val_pixel_accuracy': scores.pixel_accuracy,
               'val_mean_class_accuracy': scores.mean_class_accuracy,
               'val_iou': {c: (None if not np.isfinite(v) else float(v))
                           for c, v in zip(spec.classes, scores.iou)},
               'train_s': round(train_s, 2), 'val_s': round(epoch_s - train_s, 2),
               'epoch_s': round(epoch_s, 2),
               'train_img_per_s': round(steps_per_epoch * o.batch / max(train_s, 1e-9), 3)}
        history.append(row)
        if np.isfinite(scores.mean_iou) and scores.mean_iou > best_miou:
            best_miou, best_epoch = float(scores.mean_iou), epoch + 1
            _save_atomic(net.state_dict(), best_path)
        _save_atomic({'format': CHECKPOINT_FORMAT, 'epoch': epoch + 1, 'step': step,
                      'model': net.state_dict(), 'optimizer': opt.state_dict(),
                      'scaler': scaler.state_dict(), 'history': history,
                      'best_miou': best_miou, 'best_epoch': best_epoch, 'config': cfg},
                     ckpt_path)
        write_logs(out, history, cfg, spec.classes, best_epoch, best_miou, cw)
        log(f'epoch {epoch + 1}/{o.epochs} step {step}: loss {row["train_loss"]:.4f}, val mIoU '
            f'{100 * scores.mean_iou:.2f} (best {100 * best_miou:.2f} @ {best_epoch}), '
            f'{epoch_s:.1f} s ({row["train_img_per_s"]:.2f} img/s training, val '
            f'{row["val_s"]:.1f} s)')
        if o.stop_after and epoch + 1 - start_epoch >= o.stop_after and epoch + 1 < o.epochs:
            log(f'stopping after epoch {epoch + 1} of {o.epochs} (--stop-after '
                f'{o.stop_after}); continue with --resume')
            return Result(history, best_epoch, best_miou, out,
                          files=[out / 'log.csv', out / 'log.json', ckpt_path, best_path])
    result = Result(history, best_epoch, best_miou, out,
                    files=[out / 'log.csv', out / 'log.json', ckpt_path, best_path])
    result.files.append(write_curves(out / 'curves.png', history, spec.classes))
    if spec.taxonomy is not None:
        import yaml

        tax_path = out / 'taxonomy.yaml'
        tax_path.write_text('# identity taxonomy for the functional model of this run '
                            '(set the node\'s "taxonomy" parameter to this file)\n'
                            + yaml.safe_dump(spec.taxonomy, sort_keys=False))
        result.files.append(tax_path)
    if o.export and best_path.is_file():
        result.model = export_best(o, entry, spec, size, len(train))
        result.files.append(result.model)
    return result


def validate(wrapper: Any, split: td.Split, num_classes: int, device: Any) -> np.ndarray:
    """Return the confusion matrix of the contract wrapper's labels on ``split``."""
    import torch

    wrapper.eval()
    cm = np.zeros((num_classes, num_classes), np.int64)
    with torch.no_grad():
        for rgb, lab in zip(split.images, split.labels):
            pred = wrapper(torch.from_numpy(rgb)[None].to(device))[0].cpu().numpy()
            cm += metrics.confusion_matrix(pred, lab, num_classes, td.IGNORE)
    return cm


def export_best(o: Options, entry: zoo.ZooEntry, spec: td.ClassSpec, size: Sequence[int],
                n_train: int) -> Path:
    """Export ``best.pth`` through the zoo's exporter into ``model.onnx``."""
    from seg_ros.zoo.export import export_onnx, ExportError

    name = o.name or f'{entry.name}_finetuned'
    what = o.dataset or 'custom labels'
    dataset = (f'{what}: {spec.num_classes} classes ({spec.mapping}), fine-tuned from '
               f'{entry.name} on {n_train} frames of {o.train_images}')
    ft = finetuned_entry(entry, spec, size, name, dataset)
    try:
        return Path(export_onnx(ft, o.out / 'model.onnx', input_size=size,
                                weights=str(o.out / 'best.pth'), precision=o.precision,
                                calib_dir=o.calib, calib_limit=o.calib_count))
    except (ExportError, zoo.ZooError, ValueError) as exc:
        raise FinetuneError(f'exporting {o.out / "best.pth"}: {exc}') from exc


def write_logs(out: Path, history: list[dict[str, Any]], cfg: dict[str, Any],
               classes: Sequence[str], best_epoch: int, best_miou: float,
               class_weights: np.ndarray) -> None:
    """Write ``log.csv`` (one row per epoch) and ``log.json`` (config, weights, history)."""
    fields = ['epoch', 'step', 'lr', 'train_loss', 'val_miou', 'val_pixel_accuracy',
              'val_mean_class_accuracy', 'train_s', 'val_s', 'epoch_s', 'train_img_per_s']
    tmp = out / 'log.csv.part'
    with open(tmp, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(fields + [f'iou_{c}' for c in classes])
        for row in history:
            w.writerow([row[k] for k in fields] + [
                '' if row['val_iou'][c] is None else f'{row["val_iou"][c]:.6f}'
                for c in classes])
    os.replace(tmp, out / 'log.csv')
    doc = {'config': cfg, 'class_weights': dict(zip(classes, map(float, class_weights))),
           'best_epoch': best_epoch,
           'best_val_miou': None if not math.isfinite(best_miou) or best_miou < 0 else best_miou,
           'history': history}
    tmp = out / 'log.json.part'
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False, default=str) + '\n')
    os.replace(tmp, out / 'log.json')


def write_curves(path: Path, history: list[dict[str, Any]], classes: Sequence[str]) -> Path:
    """Plot training loss, validation mIoU and per-class IoU per epoch into one PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    epochs = [r['epoch'] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    axes[0].plot(epochs, [r['train_loss'] for r in history], 'o-')
    axes[0].set_title('training loss')
    axes[1].plot(epochs, [100 * r['val_miou'] for r in history], 'o-', color='tab:red')
    axes[1].set_title('validation mIoU (%)')
    colours = plt.get_cmap('tab20' if len(classes) > 10 else 'tab10')
    for i, c in enumerate(classes):     # one colour per class (tab10 repeats after ten)
        axes[2].plot(epochs, [100 * (r['val_iou'][c] if r['val_iou'][c] is not None
                                     else float('nan')) for r in history], '.-', label=c,
                     color=colours(i % colours.N))
    axes[2].set_title('validation IoU per class (%)')
    axes[2].legend(fontsize=7, ncol=2 if len(classes) > 8 else 1, loc='lower right')
    for ax in axes:
        ax.set_xlabel('epoch')
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
