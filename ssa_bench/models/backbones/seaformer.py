"""SeaFormer backbone (Wan et al., "SeaFormer: Squeeze-enhanced Axial Transformer for Mobile
Semantic Segmentation", ICLR 2023), a port of the authors' architecture (fudan-zvg/SeaFormer,
``seaformer-seg/mmseg/models/backbones/seaformer.py`` and ``seaformer-cls/seaformer.py``),
written here from reading it. Module and parameter names are the authors', so their ImageNet
checkpoints (``SeaFormer_B.pth``/``SeaFormer_L.pth``) load strictly once the classifier's
``linear.weight``/``linear.bias`` are dropped; no key is renamed (see docs/baselines.md).

Network (the authors' layout, names in brackets):

* five stacks of MobileNetV2 inverted-residual blocks [``smb1`` ... ``smb5``]; ``smb1`` starts
  with a 3x3 stride-2 conv+BN+ReLU [``stem_block``]; each block [``layerN``] is 1x1 expansion
  (skipped for expansion 1), k x k depth-wise conv carrying the stride, 1x1 linear projection,
  every conv bias-free and followed by a norm layer [``c``, ``bn``], **ReLU** after the first two.
  ``smbN`` ends at 1/2^(N+1) of the input (1/4 ... 1/64);
* after each of the last ``len(depths)`` stacks, a stack of SeaFormer layers [``transN``,
  ``transformer_blocks``]: ``x + attn(x)`` then ``x + mlp(x)`` (stochastic depth on both, its rate
  rising linearly from 0 to ``drop_path_rate`` within *each* stack), with **ReLU6**;
* the outputs: the 1/8 feature of ``smb2`` (the light head's spatial branch) and the output of
  every SeaFormer stack (the context branch) -- ``out_indices=None`` gives exactly these.

Squeeze-enhanced axial attention [``attn``]: Q, K (``key_dim * num_heads`` channels) and V
(``attn_ratio * key_dim * num_heads``) by 1x1 conv+BN [``to_q``/``to_k``/``to_v``]. Squeezing
(averaging) over the width gives one token per row; Q and K get a learned positional embedding of
length 16 resized linearly to the axis [``pos_emb_rowq``/``pos_emb_rowk``, ``pos_embed``];
multi-head softmax attention along the rows (scale ``key_dim**-0.5``) -> ReLU6 -> 1x1 conv+BN
[``proj_encode_row``]; the same over the height for columns [``*_column*``]. The row and column
results broadcast back and add to V; ReLU6 -> 1x1 conv+BN back to ``dim`` [``proj``]. The detail
enhancement: [Q, K, V] concatenated -> 3x3 depth-wise conv+BN -> ReLU6 -> 1x1 conv+BN to ``dim``
[``dwconv``, ``act``, ``pwconv``]; the block's output is ``h_sigmoid(attention) * detail`` with
``h_sigmoid(x) = ReLU6(x + 3) / 6`` [``sigmoid``]. The BNs of ``proj*`` start at weight 0.

FFN [``mlp``]: 1x1 conv+BN [``fc1``], 3x3 depth-wise conv *with bias* [``dwconv``], ReLU6, 1x1
conv+BN [``fc2``].

Norm layers follow ``norm_cfg`` (the authors' configs use SyncBN; mmengine's runner turns SyncBN
into BN when there is no process group, see docs/baselines.md).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

_BN = dict(type="BN", requires_grad=True)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a width to a multiple of ``divisor``, never more than 10% below ``value``
    (MobileNet's rule; the authors round every stack width with it, divisor 8)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class HSigmoid(nn.Module):
    """``ReLU6(x + 3) / 6`` with the ReLU6 as a module (as the authors build it: module-hook
    FLOP counters count it)."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + 3) / 6


class ConvBN(nn.Sequential):
    """Bias-free ``Conv2d`` [``c``] then a norm layer [``bn``] with weight ``bn_weight``, bias 0."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1,
                 padding: int = 0, groups: int = 1, bn_weight: float = 1.0,
                 norm_cfg: dict = _BN) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups,
                                       bias=False))
        norm = build_norm_layer(norm_cfg, out_ch)[1]
        nn.init.constant_(norm.weight, bn_weight)
        nn.init.constant_(norm.bias, 0)
        self.add_module("bn", norm)


class InvertedResidual(nn.Module):
    """MobileNetV2 block [``conv``]: (1x1 expand, act), k x k depth-wise (stride), act, 1x1."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: float,
                 act_layer: type[nn.Module] = nn.ReLU, norm_cfg: dict = _BN) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual stride must be 1 or 2, got {stride}")
        hidden = int(round(in_ch * expand))
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [ConvBN(in_ch, hidden, norm_cfg=norm_cfg), act_layer()]
        layers += [ConvBN(hidden, hidden, kernel, stride, kernel // 2, groups=hidden,
                          norm_cfg=norm_cfg),
                   act_layer(),
                   ConvBN(hidden, out_ch, norm_cfg=norm_cfg)]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and in_ch == out_ch
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class StackedMV2Block(nn.Module):
    """``layer1`` ... ``layerN`` inverted-residual blocks, preceded by ``stem_block`` (3x3 stride-2
    conv+BN+act from RGB) when ``stem``. ``cfgs``: (kernel, expansion, out channels, stride)."""

    def __init__(self, cfgs: list[list[int]], stem: bool, in_ch: int,
                 act_layer: type[nn.Module] = nn.ReLU, norm_cfg: dict = _BN,
                 width_mult: float = 1.0) -> None:
        super().__init__()
        self.stem = stem
        if stem:
            self.stem_block = nn.Sequential(ConvBN(3, in_ch, 3, 2, 1, norm_cfg=norm_cfg),
                                            act_layer())
        self.layers: list[str] = []
        for index, (kernel, expand, channels, stride) in enumerate(cfgs):
            out_ch = make_divisible(channels * width_mult, 8)
            name = f"layer{index + 1}"
            self.add_module(name, InvertedResidual(in_ch, out_ch, kernel, stride, expand,
                                                   act_layer=act_layer, norm_cfg=norm_cfg))
            self.layers.append(name)
            in_ch = out_ch
        self.out_channels = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stem:
            x = self.stem_block(x)
        for name in self.layers:
            x = getattr(self, name)(x)
        return x


class AxialPositionEmbedding(nn.Module):
    """Learned 1-D positional embedding [``pos_embed``] (1, C, ``length``), standard-normal
    initialised, linearly resized to the squeezed axis and added."""

    def __init__(self, channels: int, length: int = 16) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, channels, length))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, L)
        return x + F.interpolate(self.pos_embed, size=x.shape[-1], mode="linear",
                                 align_corners=False)


class SqueezeAxialAttention(nn.Module):
    """Squeeze-enhanced axial attention with detail enhancement (module docstring)."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, attn_ratio: float = 2,
                 act_layer: type[nn.Module] = nn.ReLU6, norm_cfg: dict = _BN) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.scale = key_dim ** -0.5
        self.nh_kd = key_dim * num_heads
        self.d = int(attn_ratio * key_dim)
        self.dh = self.d * num_heads
        self.to_q = ConvBN(dim, self.nh_kd, norm_cfg=norm_cfg)
        self.to_k = ConvBN(dim, self.nh_kd, norm_cfg=norm_cfg)
        self.to_v = ConvBN(dim, self.dh, norm_cfg=norm_cfg)
        self.proj = nn.Sequential(act_layer(),
                                  ConvBN(self.dh, dim, bn_weight=0, norm_cfg=norm_cfg))
        self.proj_encode_row = nn.Sequential(
            act_layer(), ConvBN(self.dh, self.dh, bn_weight=0, norm_cfg=norm_cfg))
        self.pos_emb_rowq = AxialPositionEmbedding(self.nh_kd, 16)
        self.pos_emb_rowk = AxialPositionEmbedding(self.nh_kd, 16)
        self.proj_encode_column = nn.Sequential(
            act_layer(), ConvBN(self.dh, self.dh, bn_weight=0, norm_cfg=norm_cfg))
        self.pos_emb_columnq = AxialPositionEmbedding(self.nh_kd, 16)
        self.pos_emb_columnk = AxialPositionEmbedding(self.nh_kd, 16)
        qkv_ch = 2 * self.nh_kd + self.dh
        self.dwconv = ConvBN(qkv_ch, qkv_ch, 3, 1, 1, groups=qkv_ch, norm_cfg=norm_cfg)
        self.act = act_layer()
        self.pwconv = ConvBN(qkv_ch, dim, norm_cfg=norm_cfg)
        self.sigmoid = HSigmoid()

    def _axial(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Multi-head attention along one squeezed axis.

        q, k: (B, heads*key_dim, L); v: (B, heads*d, L) -> (B, heads*d, L).
        """
        b, _, length = q.shape
        q = q.reshape(b, self.num_heads, -1, length).transpose(-1, -2)    # B h L kd
        k = k.reshape(b, self.num_heads, -1, length)                      # B h kd L
        v = v.reshape(b, self.num_heads, -1, length).transpose(-1, -2)    # B h L d
        attn = (torch.matmul(q, k) * self.scale).softmax(dim=-1)
        return torch.matmul(attn, v).transpose(-1, -2).reshape(b, self.dh, length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        detail = self.pwconv(self.act(self.dwconv(torch.cat([q, k, v], dim=1))))
        height, width = x.shape[-2:]
        rows = self._axial(self.pos_emb_rowq(q.mean(-1)), self.pos_emb_rowk(k.mean(-1)),
                           v.mean(-1))
        rows = self.proj_encode_row(rows.reshape(-1, self.dh, height, 1))
        cols = self._axial(self.pos_emb_columnq(q.mean(-2)), self.pos_emb_columnk(k.mean(-2)),
                           v.mean(-2))
        cols = self.proj_encode_column(cols.reshape(-1, self.dh, 1, width))
        out = self.proj(v + (rows + cols))
        return self.sigmoid(out) * detail


class ConvFFN(nn.Module):
    """[``fc1``] 1x1 conv+BN, [``dwconv``] 3x3 depth-wise conv with bias, act, [``fc2``] 1x1
    conv+BN."""

    def __init__(self, dim: int, hidden: int, act_layer: type[nn.Module] = nn.ReLU6,
                 drop: float = 0.0, norm_cfg: dict = _BN) -> None:
        super().__init__()
        self.fc1 = ConvBN(dim, hidden, norm_cfg=norm_cfg)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=True)
        self.act = act_layer()
        self.fc2 = ConvBN(hidden, dim, norm_cfg=norm_cfg)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class SeaFormerLayer(nn.Module):
    """``x + drop_path(attn(x))``, then ``x + drop_path(mlp(x))``."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, mlp_ratio: float,
                 attn_ratio: float, drop_path: float, act_layer: type[nn.Module] = nn.ReLU6,
                 norm_cfg: dict = _BN) -> None:
        super().__init__()
        self.attn = SqueezeAxialAttention(dim, key_dim, num_heads, attn_ratio,
                                          act_layer=act_layer, norm_cfg=norm_cfg)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio), act_layer=act_layer, norm_cfg=norm_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


class SeaFormerStack(nn.Module):
    """``transformer_blocks``: ``len(drop_paths)`` SeaFormer layers of one width."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, mlp_ratio: float,
                 attn_ratio: float, drop_paths: list[float],
                 act_layer: type[nn.Module] = nn.ReLU6, norm_cfg: dict = _BN) -> None:
        super().__init__()
        self.transformer_blocks = nn.ModuleList(
            SeaFormerLayer(dim, key_dim, num_heads, mlp_ratio, attn_ratio, rate,
                           act_layer=act_layer, norm_cfg=norm_cfg)
            for rate in drop_paths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.transformer_blocks:
            x = block(x)
        return x


# The authors' variants (seaformer-cls/seaformer.py ``SeaFormer_B``/``SeaFormer_L``, and
# seaformer-seg/local_configs/seaformer/seaformer_{base,large}.py, which agree).
# cfgs: per stack (smb1..smb5) the blocks (kernel, expansion, out channels, stride);
# channels[0]: the stem width; depths/key_dims/mlp_ratios: per SeaFormer stack, attached to the
# last len(depths) stacks; attn_ratio: V width / key_dim.
ARCH_SETTINGS: dict[str, dict[str, Any]] = {
    "B": dict(
        cfgs=[[[3, 1, 16, 1], [3, 4, 32, 2], [3, 3, 32, 1]],
              [[5, 3, 64, 2], [5, 3, 64, 1]],
              [[3, 3, 128, 2], [3, 3, 128, 1]],
              [[5, 4, 192, 2]],
              [[3, 6, 256, 2]]],
        channels=[16, 32, 64, 128, 192, 256],
        depths=[4, 4], key_dims=[16, 24], mlp_ratios=[2, 4], num_heads=8, attn_ratio=2),
    "L": dict(
        cfgs=[[[3, 3, 32, 1], [3, 4, 64, 2], [3, 4, 64, 1]],
              [[5, 4, 128, 2], [5, 4, 128, 1]],
              [[3, 4, 192, 2], [3, 4, 192, 1]],
              [[5, 4, 256, 2]],
              [[3, 6, 320, 2]]],
        channels=[32, 64, 128, 192, 256, 320],
        depths=[3, 3, 3], key_dims=[16, 20, 24], mlp_ratios=[2, 4, 6], num_heads=8,
        attn_ratio=2),
}

# Index of the stack whose output is the light head's spatial (1/8) branch.
SPATIAL_STAGE = 1

# The ImageNet classifier of the authors' classification checkpoints: not part of the backbone.
CLASSIFIER_KEYS = ("linear.weight", "linear.bias")


def backbone_state_dict(checkpoint: dict) -> dict:
    """The backbone tensors of one of the authors' classification checkpoints, port names.

    What the authors' segmentation backbone does with ``init_cfg=dict(type='Pretrained',
    checkpoint=...)`` (their ``SeaFormer.init_weights``): take ``state_dict_ema`` if the file has
    it (a timm ``last.pth.tar``), else ``state_dict``, else ``model``, else the file itself; the
    names are the port's as they are (no prefix). They load it non-strictly, which drops the
    classifier; here ``linear.*`` is dropped explicitly so that the rest can load strictly.
    A ``module.`` prefix (a checkpoint saved from a DDP wrapper) is stripped.
    """
    for key in ("state_dict_ema", "state_dict", "model"):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = {}
    for name, tensor in checkpoint.items():
        name = name[len("module."):] if name.startswith("module.") else name
        if name not in CLASSIFIER_KEYS:
            state[name] = tensor
    return state


@MODELS.register_module()
class SeaFormer(BaseModule):
    """SeaFormer backbone with the authors' module names (``smbN``, ``transN``).

    Args:
        arch: ``"B"``, ``"L"`` or a dict with the keys of an ``ARCH_SETTINGS`` entry.
        out_indices: stack outputs to return (0 = ``smb1`` at 1/4 ... 4 = ``smb5`` at 1/64, each
            after its SeaFormer layers if it has any). ``None``: the authors' outputs, the 1/8
            feature plus every SeaFormer stack ((1, 3, 4) for B, (1, 2, 3, 4) for L).
        drop_path_rate: stochastic depth, rising linearly from 0 within each SeaFormer stack.
        norm_cfg: every norm layer (the authors' seg configs: SyncBN).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=...)`` with the classification
            checkpoint minus ``linear.*`` (docs/baselines.md).
    """

    def __init__(self, arch: str | dict = "B", out_indices: tuple[int, ...] | None = None,
                 drop_path_rate: float = 0.1, norm_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in ARCH_SETTINGS:
                raise ValueError(f"SeaFormer arch must be one of {sorted(ARCH_SETTINGS)}, "
                                 f"got {arch!r}")
            setting = ARCH_SETTINGS[arch]
        else:
            setting = dict(arch)
        norm_cfg = dict(norm_cfg or _BN)
        cfgs, channels, depths = setting["cfgs"], setting["channels"], setting["depths"]
        self.num_stacks = len(cfgs)
        self.num_trans = len(depths)
        self.first_trans = self.num_stacks - self.num_trans
        if out_indices is None:
            out_indices = (SPATIAL_STAGE,) + tuple(range(self.first_trans, self.num_stacks))
        self.out_indices = tuple(out_indices)

        self.out_channels: list[int] = []
        for index, stack_cfg in enumerate(cfgs):
            smb = StackedMV2Block(stack_cfg, stem=index == 0, in_ch=channels[index],
                                  act_layer=nn.ReLU, norm_cfg=norm_cfg)
            setattr(self, f"smb{index + 1}", smb)
            self.out_channels.append(smb.out_channels)
        for index, depth in enumerate(depths):
            rates = [float(r) for r in torch.linspace(0, drop_path_rate, depth)]
            trans = SeaFormerStack(self.out_channels[self.first_trans + index],
                                   setting["key_dims"][index], setting["num_heads"],
                                   setting["mlp_ratios"][index], setting["attn_ratio"], rates,
                                   act_layer=nn.ReLU6, norm_cfg=norm_cfg)
            setattr(self, f"trans{index + 1}", trans)

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()
            return
        # The authors' initialisation: convolutions normal with std sqrt(2 / fan-out). Their
        # init_weights also resets ``nn.BatchNorm2d`` layers to weight 1, which under their
        # configs' SyncBN (not a BatchNorm2d) touches nothing: the ``proj*`` BNs keep weight 0.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                fan_out //= module.groups
                nn.init.normal_(module.weight, 0, math.sqrt(2.0 / fan_out))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = []
        for index in range(self.num_stacks):
            x = getattr(self, f"smb{index + 1}")(x)
            if index >= self.first_trans:
                x = getattr(self, f"trans{index - self.first_trans + 1}")(x)
            if index in self.out_indices:
                outputs.append(x)
        return tuple(outputs)
