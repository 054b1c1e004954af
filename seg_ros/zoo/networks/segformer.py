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
SegFormer (MiT encoder + all-MLP decoder) with Hugging Face's module names.

``SegformerForSemanticSegmentation`` in huggingface/transformers
(``models/segformer/modeling_segformer.py``) defines the state_dict keys of
``nvidia/segformer-b0-finetuned-ade-512-512``
(``segformer.encoder.patch_embeddings.0.proj.weight``, ``decode_head.linear_c.0.proj.weight``
...). The attribute names below reproduce those keys so the Hub's ``pytorch_model.bin`` /
``model.safetensors`` load with ``strict=True``. LayerNorms use PyTorch's default eps (1e-5) as
HF's port does. mmsegmentation's SegFormer checkpoints are a
different network, not just other names (its head puts BN + ReLU after every per-stage
projection and concatenates the stages shallow-first), so they are not accepted.

Export notes: every op is Conv, MatMul, Softmax, LayerNormalization (or its decomposition), Erf
GELU, Resize (bilinear, half-pixel) and shape plumbing on static shapes, all in TensorRT's ONNX
support matrix. Attention is written out (no ``scaled_dot_product_attention``) so the exporter
does not emit a fused op a runtime might lack.
"""
from __future__ import annotations

from dataclasses import dataclass
import json
import math
from typing import cast

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


@dataclass(frozen=True)
class MiTConfig:
    """Hyper-parameters of one MiT size; B0 defaults (paper Table 6, HF config of the B0 ADE)."""

    hidden_sizes: tuple[int, ...] = (32, 64, 160, 256)
    depths: tuple[int, ...] = (2, 2, 2, 2)
    heads: tuple[int, ...] = (1, 2, 5, 8)
    sr_ratios: tuple[int, ...] = (8, 4, 2, 1)
    patch_sizes: tuple[int, ...] = (7, 3, 3, 3)
    strides: tuple[int, ...] = (4, 2, 2, 2)
    mlp_ratio: int = 4
    decoder_hidden_size: int = 256


B0 = MiTConfig()


class OverlapPatchEmbed(nn.Module):
    """Strided conv patch embedding followed by a LayerNorm over channels."""

    def __init__(self, patch: int, stride: int, cin: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, patch, stride, patch // 2)
        self.layer_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        h, w = x.shape[2], x.shape[3]
        return self.layer_norm(x.flatten(2).transpose(1, 2)), h, w


class EfficientSelfAttention(nn.Module):
    """Multi-head attention whose keys/values come from a sequence shrunk by ``sr`` x ``sr``."""

    def __init__(self, dim: int, heads: int, sr: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.sr_ratio = sr
        if sr > 1:
            self.sr = nn.Conv2d(dim, dim, sr, sr)
            self.layer_norm = nn.LayerNorm(dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        q = self._split(self.query(x))
        kv = x
        if self.sr_ratio > 1:
            kv = self.sr(x.transpose(1, 2).reshape(b, c, h, w))
            kv = self.layer_norm(kv.flatten(2).transpose(1, 2))
        k = self._split(self.key(kv))
        v = self._split(self.value(kv))
        attn = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(self.head_dim)), dim=-1)
        return (attn @ v).permute(0, 2, 1, 3).reshape(b, n, c)


class SelfOutput(nn.Module):
    """Output projection of the attention (HF keeps it in its own ``output.dense`` module)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x)


class Attention(nn.Module):
    """``self`` + ``output``, the HF nesting that gives ``attention.self.query`` keys."""

    def __init__(self, dim: int, heads: int, sr: int) -> None:
        super().__init__()
        self.self = EfficientSelfAttention(dim, heads, sr)
        self.output = SelfOutput(dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.output(self.self(x, h, w))


class DWConv(nn.Module):
    """3x3 depthwise conv on the token grid; it is what lets MiT drop positional encodings."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w))
        return x.flatten(2).transpose(1, 2)


class MixFFN(nn.Module):
    """Linear → depthwise conv → GELU (exact, erf) → Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dense1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.dense2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.dense2(F.gelu(self.dwconv(self.dense1(x), h, w)))


class Block(nn.Module):
    """Pre-norm transformer block (drop-path is identity at inference and has no weights)."""

    def __init__(self, dim: int, heads: int, sr: int, mlp_ratio: int) -> None:
        super().__init__()
        self.layer_norm_1 = nn.LayerNorm(dim)
        self.attention = Attention(dim, heads, sr)
        self.layer_norm_2 = nn.LayerNorm(dim)
        self.mlp = MixFFN(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.attention(self.layer_norm_1(x), h, w)
        return x + self.mlp(self.layer_norm_2(x), h, w)


class MiTEncoder(nn.Module):
    """Four stages at strides 4, 8, 16, 32; returns each as an NCHW map."""

    def __init__(self, cfg: MiTConfig) -> None:
        super().__init__()
        cins = (3,) + cfg.hidden_sizes[:-1]
        self.patch_embeddings = nn.ModuleList(
            OverlapPatchEmbed(p, s, ci, d)
            for p, s, ci, d in zip(cfg.patch_sizes, cfg.strides, cins, cfg.hidden_sizes))
        self.block = nn.ModuleList(
            nn.ModuleList(Block(d, nh, sr, cfg.mlp_ratio) for _ in range(depth))
            for d, nh, sr, depth in zip(cfg.hidden_sizes, cfg.heads, cfg.sr_ratios, cfg.depths))
        self.layer_norm = nn.ModuleList(nn.LayerNorm(d) for d in cfg.hidden_sizes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for embed, blocks, norm in zip(self.patch_embeddings, self.block, self.layer_norm):
            x, h, w = embed(x)
            for blk in cast(nn.ModuleList, blocks):
                x = blk(x, h, w)
            x = norm(x)
            x = x.reshape(x.shape[0], h, w, -1).permute(0, 3, 1, 2)
            feats.append(x)
        return feats


class _Backbone(nn.Module):
    """Holder so the keys read ``segformer.encoder.*`` like HF's ``SegformerModel``."""

    def __init__(self, cfg: MiTConfig) -> None:
        super().__init__()
        self.encoder = MiTEncoder(cfg)


class MLPProj(nn.Module):
    """Per-stage linear projection to the decoder width (HF ``SegformerMLP``)."""

    def __init__(self, cin: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cin, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        y = self.proj(x.flatten(2).transpose(1, 2))
        return y.transpose(1, 2).reshape(b, -1, h, w)


class DecodeHead(nn.Module):
    """All-MLP decoder: project, upsample to 1/4, concatenate (deepest first), fuse, classify."""

    def __init__(self, cfg: MiTConfig, n_classes: int) -> None:
        super().__init__()
        d = cfg.decoder_hidden_size
        self.linear_c = nn.ModuleList(MLPProj(c, d) for c in cfg.hidden_sizes)
        self.linear_fuse = nn.Conv2d(d * len(cfg.hidden_sizes), d, 1, bias=False)
        self.batch_norm = nn.BatchNorm2d(d)
        self.classifier = nn.Conv2d(d, n_classes, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[2:]
        ups = [F.interpolate(mlp(f), size=size, mode='bilinear', align_corners=False)
               for f, mlp in zip(feats, self.linear_c)]
        x = F.relu(self.batch_norm(self.linear_fuse(torch.cat(ups[::-1], dim=1))))
        return self.classifier(x)


class SegFormer(nn.Module):
    """
    SegFormer returning logits at 1/4 of the input, ``(N, n_classes, H/4, W/4)``, as HF does.

    The contract wrapper resizes them straight to the frame size, which is what HF's
    ``post_process_semantic_segmentation`` does too (one resize, not two). H and W should be
    multiples of 32.
    """

    def __init__(self, n_classes: int = 150, cfg: MiTConfig = B0) -> None:
        super().__init__()
        self.segformer = _Backbone(cfg)
        self.decode_head = DecodeHead(cfg, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.segformer.encoder(x))


def segformer_b0(n_classes: int = 150) -> SegFormer:
    """Build SegFormer-B0 (zoo factory; ADE20K-150 by default)."""
    return SegFormer(n_classes, B0)


def load_state_dict(model: SegFormer, state: dict) -> None:
    """
    Load a Hugging Face SegFormer state_dict strictly.

    Only ``num_batches_tracked`` counters may be absent (they do not affect inference and some
    converted files drop them). An mmseg checkpoint (keys ``backbone.layers.*``) is refused with
    a message, since its head differs in structure and a partial load would give silently wrong
    labels.
    """
    if 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    if any(k.startswith('backbone.layers.') for k in state):
        raise ValueError('this is an mmsegmentation SegFormer checkpoint; seg_ros implements the '
                         'Hugging Face / NVlabs layout: use the weights of '
                         'nvidia/segformer-b0-finetuned-ade-512-512 (model.safetensors or '
                         'pytorch_model.bin)')
    state = dict(state)
    for key, value in model.state_dict().items():
        if key.endswith('num_batches_tracked') and key not in state:
            state[key] = torch.zeros_like(value)
    model.load_state_dict(state, strict=True)


_SAFETENSORS_DTYPES = {'F32': np.float32, 'F16': np.float16, 'F64': np.float64,
                       'I64': np.int64, 'I32': np.int32, 'BF16': None}


def read_safetensors(path: str) -> dict:
    """
    Read a ``.safetensors`` file into a dict of CPU tensors, without the safetensors package.

    The format is an 8-byte little-endian header length, a JSON header naming each tensor's
    dtype, shape and byte range, then the raw little-endian data.
    """
    with open(path, 'rb') as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], 'little')
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as exc:
        raise ValueError(f'{path}: not a safetensors file ({exc})') from exc
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        begin, end = info['data_offsets']
        chunk = raw[base + begin:base + end]
        dtype = info['dtype']
        if dtype not in _SAFETENSORS_DTYPES:
            raise ValueError(f'{path}: tensor {name} has unsupported dtype {dtype}')
        if dtype == 'BF16':  # bfloat16 is the top half of a float32
            bits = np.frombuffer(chunk, '<u2').astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(chunk, np.dtype(_SAFETENSORS_DTYPES[dtype]).newbyteorder('<'))
        out[name] = torch.from_numpy(arr.astype(arr.dtype.newbyteorder('='))
                                     .reshape(info['shape']).copy())
    return out


def load_checkpoint(model: SegFormer, path: str) -> SegFormer:
    """Load ``model.safetensors`` or ``pytorch_model.bin`` (HF naming) strictly; eval mode."""
    try:
        if str(path).endswith('.safetensors'):
            state = read_safetensors(str(path))
        else:
            state = torch.load(str(path), map_location='cpu', weights_only=True)
        load_state_dict(model, state)
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        raise ValueError(f'{path}: weights do not fit SegFormer-B0 ({exc})') from exc
    return model.eval()
