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
Checkpoint key handling shared by the network files, free of PyTorch.

Released weights are often saved from a model wrapped in ``nn.DataParallel`` (or
``DistributedDataParallel``), which puts ``module.`` before every key; the bare network's keys
have no prefix. Every loader drops it here, so they all accept both forms alike.
"""
from __future__ import annotations

from typing import Any, Mapping

DATA_PARALLEL_PREFIX = 'module.'


def strip_module_prefix(state: Mapping[str, Any],
                        prefix: str = DATA_PARALLEL_PREFIX) -> dict[str, Any]:
    """
    Return the state_dict with the ``module.`` prefix dropped, as a new dict in key order.

    Only when every key has it, as a DataParallel file has: a key that starts with ``module.``
    among others that do not names a real submodule and is kept. A new plain dict either way,
    so the caller may change it without touching the loaded file's mapping.
    """
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)
