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
The zoo's registry: what a model entry holds, and the table of entries by name.

An entry is plain data (no PyTorch import), so ``seg-ros download`` and the demo can fetch
weights and frames on machines without the ``export`` extra. Adding an architecture is one
:class:`ZooEntry` passed to :func:`register` in :mod:`seg_ros.zoo.entries`: a factory
``'module:function'`` that builds the ``torch.nn.Module`` (normalised float NCHW in, logits
NCHW out), its keyword arguments, and the data below; :mod:`seg_ros.zoo.export` does the rest.
The registry imports no entry: entries import the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from seg_ros.zoo.networks import Normalization


class ZooError(RuntimeError):
    """Unknown model, missing or wrong weights; the message says what to do."""


@dataclass(frozen=True)
class ZooEntry:
    """One exportable model: how to build it, what it predicts, where its weights live."""

    name: str
    architecture: str                   # human-readable, goes into the model's metadata
    factory: str                        # 'module:function' returning the torch.nn.Module
    factory_kwargs: Mapping[str, Any]
    dataset: str
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    normalization: Normalization
    input_size: tuple[int, int]         # (height, width) the network runs at by default
    weights_file: str
    url: str
    sha256: str
    licence: str
    attribution: str
    notes: str = ''
    size_multiple: int = 1              # network height and width must be multiples of this
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.palette) != len(self.classes):
            raise ValueError(f'{self.name}: {len(self.classes)} classes but '
                             f'{len(self.palette)} palette colours')

    @property
    def source(self) -> str:
        """Weights provenance for the model metadata."""
        return f'{self.url} sha256:{self.sha256}'


ZOO: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    """Add ``entry`` to the zoo (later architectures plug in here)."""
    if entry.name in ZOO:
        raise ValueError(f'zoo entry "{entry.name}" already exists')
    ZOO[entry.name] = entry
    return entry


def names() -> list[str]:
    """Return the zoo's model names, sorted."""
    return sorted(ZOO)


def get(name: str) -> ZooEntry:
    """Return the entry called ``name``; the error lists the names there are."""
    try:
        return ZOO[name]
    except KeyError:
        raise ZooError(f'unknown model "{name}"; the zoo has: {", ".join(names())} '
                       '(see "seg-ros export --list")') from None
