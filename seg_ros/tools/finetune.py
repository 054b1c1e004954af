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
``seg-ros finetune BASE --train IMAGES LABELS --val IMAGES LABELS -o RUN_DIR``.

Adapts a zoo network to the robot's own labelled frames and exports the best epoch into the
seg_ros contract, ready for the node. This module only parses the command line; the work is
:func:`seg_ros.offline.training.trainer.finetune`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys

from seg_ros.common.images import parse_size
from seg_ros.zoo.precision import PRECISIONS


def _size(text: str, option: str) -> tuple[int, int]:
    width, height = parse_size(text, option)
    return height, width


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command line."""
    parser.add_argument('base', help='zoo model to start from (see "seg-ros export --list"), '
                        'e.g. espnet_cityscapes')
    parser.add_argument('--train', nargs=2, required=True, metavar=('IMAGES', 'LABELS'),
                        type=Path, help='training frames and their label PNGs (same file stems)')
    parser.add_argument('--val', nargs=2, required=True, metavar=('IMAGES', 'LABELS'),
                        type=Path, help='validation frames and labels (scored every epoch)')
    parser.add_argument('-o', '--output', required=True, type=Path, metavar='RUN_DIR',
                        help='run folder: logs, checkpoints, curves.png, model.onnx')
    g = parser.add_argument_group('classes')
    g.add_argument('--classes', type=Path, metavar='FILE',
                   help='class names, one per line; line i (from 0) is label value i')
    g.add_argument('--dataset', default='', metavar='PRESET',
                   help='label convention of a dataset instead of --classes: camvid (ignore 11), '
                   'cityscapes (train ids), rugd')
    g.add_argument('--ignore', type=int, default=None, metavar='N',
                   help="label value that is neither learnt nor scored (default: the preset's, "
                   'else 255)')
    g.add_argument('--label-map', default='', metavar='YAML',
                   help='merge or rename classes: mapping of label class -> class to train '
                   '(see doc/tools.md)')
    g.add_argument('--taxonomy', default='', metavar='T',
                   help='train the functional classes of this taxonomy (preset name such as '
                   'camvid, or YAML) instead of the label classes')
    g.add_argument('--label-suffix', default='', help='label file = image stem + this + .png')
    g = parser.add_argument_group('network')
    g.add_argument('--weights', metavar='PATH',
                   help="start from this state_dict instead of the zoo's weights")
    g.add_argument('--size', metavar='WxH', help='network input size for validation and export '
                   "(default: the validation frames' size, rounded to the network's multiple)")
    g.add_argument('--name', default='', help='model name in the exported metadata '
                   '(default BASE_finetuned)')
    g = parser.add_argument_group('training')
    g.add_argument('--epochs', type=int, default=20)
    g.add_argument('--batch', type=int, default=8)
    g.add_argument('--crop', metavar='WxH', help='training crop size (default: --size)')
    g.add_argument('--scale', type=float, nargs=2, default=(0.75, 1.5), metavar=('MIN', 'MAX'),
                   help='random rescale range before cropping (default 0.75 1.5)')
    g.add_argument('--no-flip', action='store_true', help='no random horizontal flips')
    g.add_argument('--jitter', type=float, default=0.25,
                   help='brightness/contrast/saturation jitter +- fraction, with a small hue '
                   'shift (0 = off; default 0.25)')
    g.add_argument('--optimizer', choices=('adamw', 'sgd'), default='adamw')
    g.add_argument('--lr', type=float, default=0.0,
                   help='peak learning rate (default 1e-3 for adamw, 1e-2 for sgd)')
    g.add_argument('--weight-decay', type=float, default=1e-4)
    g.add_argument('--momentum', type=float, default=0.9, help='sgd momentum (Nesterov)')
    g.add_argument('--schedule', choices=('poly', 'cosine'), default='poly')
    g.add_argument('--warmup', type=int, default=-1, metavar='STEPS',
                   help='linear warm-up steps (default: 5 %% of the run)')
    g.add_argument('--class-weights', choices=('median', 'none'), default='median',
                   help='weigh the loss by median-frequency balancing of the training labels '
                   '(default) or not')
    g.add_argument('--loss', choices=('ce', 'ohem'), default='ce',
                   help='cross entropy, or OHEM (hardest pixels only)')
    g.add_argument('--dice', type=float, default=0.0, metavar='W',
                   help='add W x Dice loss (every class weighs the same; default 0)')
    g.add_argument('--seed', type=int, default=0, help='seed of shuffling, augmentation, init')
    g.add_argument('--device', default='cpu', help='cpu or cuda (mixed precision on cuda)')
    g.add_argument('--threads', type=int, default=0, help='CPU threads (0 = all cores)')
    g.add_argument('--resume', action='store_true',
                   help='continue the run in RUN_DIR from its last finished epoch')
    g.add_argument('--stop-after', type=int, default=0, metavar='N',
                   help='stop after N epochs of this call, as if interrupted (time-boxed '
                   'sessions on a shared machine); continue later with --resume')
    g.add_argument('--limit-train', type=int, default=0, metavar='N',
                   help='use only the first N training frames (0 = all)')
    g.add_argument('--limit-val', type=int, default=0, metavar='N',
                   help='validate on the first N frames only (0 = all)')
    g.add_argument('--no-progress', action='store_true', help='no progress bar')
    g = parser.add_argument_group('export (as "seg-ros export")')
    g.add_argument('--no-export', action='store_true', help='do not export model.onnx')
    g.add_argument('--precision', choices=PRECISIONS, default='fp32',
                   help='as "seg-ros export --precision": int8 for TensorRT, int8-cpu for '
                   "ONNX Runtime's CPU kernels")
    g.add_argument('--calib', default='', metavar='DIR',
                   help='int8, int8-cpu: calibration frames')
    g.add_argument('--calib-count', type=int, default=0, metavar='N')


def run(args: argparse.Namespace) -> int:
    """Parse the options into :class:`Options`, run, print where everything went."""
    from seg_ros.offline.training.data import DataError, read_classes_file
    from seg_ros.offline.training.trainer import FinetuneError, finetune, Options

    try:
        options = Options(
            base=args.base, train_images=args.train[0], train_labels=args.train[1],
            val_images=args.val[0], val_labels=args.val[1], out=args.output,
            classes=read_classes_file(args.classes) if args.classes else None,
            dataset=args.dataset, ignore=args.ignore, label_map=args.label_map,
            taxonomy=args.taxonomy, label_suffix=args.label_suffix, weights=args.weights,
            size=_size(args.size, '--size') if args.size else None,
            crop=_size(args.crop, '--crop') if args.crop else None,
            scale=tuple(args.scale), flip=not args.no_flip, jitter=args.jitter,
            epochs=args.epochs, batch=args.batch, optimizer=args.optimizer, lr=args.lr,
            weight_decay=args.weight_decay, momentum=args.momentum, schedule=args.schedule,
            warmup=args.warmup, class_weights=args.class_weights, loss=args.loss,
            dice=args.dice, seed=args.seed, threads=args.threads, device=args.device,
            resume=args.resume, stop_after=args.stop_after, limit_train=args.limit_train,
            limit_val=args.limit_val,
            name=args.name, export=not args.no_export, precision=args.precision,
            calib=args.calib, calib_count=args.calib_count,
            progress=False if args.no_progress else None)
        result = finetune(options)
    except (DataError, FinetuneError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'best epoch {result.best_epoch}: val mIoU {100 * result.best_miou:.2f}')
    for path in result.files:
        print(f'wrote {path}')
    return 0
