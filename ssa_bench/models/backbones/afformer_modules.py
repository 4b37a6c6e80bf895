"""Building blocks of the AFFormer backbone (Dong, Wang and Wang, "Head-Free Lightweight Semantic
Segmentation with Linear Transformer", AAAI 2023), written from reading the authors' model
definition (dongbo811/AFFormer, ``tools/afformer.py``).

Attribute names, nesting and registration order follow the authors' modules one for one, so a
state_dict of this port has exactly the keys (and key order) of theirs -- including the
duplicated keys of the position encodings an encoder shares with its layers (see
:class:`AFFEncoder`). Hyper-parameters that the authors hard-code (kernel sizes, the high-pass
kernel/head split ``{3: 2, 5: 3, 7: 3}``, the low-pass grids ``(1, 2, 3, 6)``, Hardswish, LayerNorm
eps 1e-6, qkv bias) are kept. The authors' dropout layers all have rate 0 and are left out.

Which class here is which of theirs (names of attributes are theirs in every case):

=========================  ==================================
here                       authors (``tools/afformer.py``)
=========================  ==================================
``ConvBN``                 ``Conv2d_BN``
``DWConvBN``               ``DWConv2d_BN`` (inside ``DWCPatchEmbed``)
``PatchEmbed``             ``DWCPatchEmbed``
``PatchEmbedStage``        ``Patch_Embed_stage``
``TokenDWConv``            ``DWConv``
``Mlp``                    ``Mlp``
``ConvPosEnc``             ``ConvPosEnc``
``LowPassFilter``          ``LowPassModule``
``DynamicFilter``          ``FilterModule``
``FrequencyFilter``        ``Frequency_FilterModule``
``AFFBlock``               ``MHCABlock``
``AFFEncoder``             ``MHCAEncoder``
``Restore``                ``Restore``
``AFFStage``               ``MHCA_stage``
=========================  ==================================
"""
from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from torch import nn

# The high-pass filter's depth-wise kernels: kernel size -> number of heads (of 8) it filters.
HIGH_PASS_WINDOWS = {3: 2, 5: 3, 7: 3}
# The low-pass filter's pooled grid sizes, one per quarter of the channels.
LOW_PASS_GRIDS = (1, 2, 3, 6)
# The authors build every backbone norm as nn.BatchNorm2d; their train script then converts the
# whole model with nn.SyncBatchNorm.convert_sync_batchnorm (the recipe passes SyncBN here).
BN = dict(type="BN", requires_grad=True)


def _norm(norm_cfg: dict | None, channels: int) -> nn.Module:
    return build_norm_layer(norm_cfg or BN, channels)[1]


def _to_map(tokens: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, N, C) tokens -> (B, C, H, W) map."""
    b, _, c = tokens.shape
    return tokens.transpose(1, 2).reshape(b, c, *size)


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) map -> (B, N, C) tokens."""
    return x.flatten(2).transpose(1, 2)


class ConvBN(nn.Module):
    """conv (no bias) -> BN -> optional activation; ``conv``/``bn`` as the authors name them."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 1, stride: int = 1,
                 pad: int = 0, act_layer: type[nn.Module] | None = None,
                 norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, pad, bias=False)
        self.bn = _norm(norm_cfg, out_ch)
        self.act_layer = act_layer() if act_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act_layer(self.bn(self.conv(x)))


class DWConvBN(nn.Module):
    """Depth-wise conv (k, stride, 'same' padding, no bias), 1x1 point-wise (no bias), BN,
    Hardswish."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int,
                 norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, (kernel_size - 1) // 2,
                                groups=out_ch, bias=False)
        self.pwconv = nn.Conv2d(out_ch, out_ch, 1, 1, 0, bias=False)
        self.bn = _norm(norm_cfg, out_ch)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.pwconv(self.dwconv(x))))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, stride: int, norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.patch_conv = DWConvBN(dim, dim, kernel_size=3, stride=stride, norm_cfg=norm_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_conv(x)


def patch_strides(stage: int, num_path: int) -> list[int]:
    """Strides of a stage's ``num_path + 1`` chained patch embeddings (the authors' rule).

    Stage 1 down-samples in its first embedding (its input and both paths at 1/8). Stages 2 and 3
    keep the first embedding at the input's resolution (the Restore path, 1/8) and down-sample
    the second one, which feeds the linear-attention path: by 2 in stage 2 (1/16) and by 4 in
    stage 3 (1/32). Stage 0 does not down-sample.
    """
    down = 4 if stage == 3 else 2
    return [down if (stage == 1 and idx == 0) or (stage > 1 and idx == 1) else 1
            for idx in range(num_path + 1)]


class PatchEmbedStage(nn.Module):
    """``num_path + 1`` chained depth-wise patch embeddings; returns every intermediate map."""

    def __init__(self, dim: int, num_path: int, stage: int, norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.patch_embeds = nn.ModuleList(PatchEmbed(dim, stride, norm_cfg)
                                          for stride in patch_strides(stage, num_path))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for embed in self.patch_embeds:
            x = embed(x)
            outputs.append(x)
        return outputs


class TokenDWConv(nn.Module):
    """3x3 depth-wise conv (with bias) on tokens laid out on their grid."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return _to_tokens(self.dwconv(_to_map(x, size)))


class Mlp(nn.Module):
    """fc1 -> GELU(h + dwconv(h)) -> fc2."""

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.dwconv = TokenDWConv(hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.fc1(x)
        x = self.act(x + self.dwconv(x, size))
        return self.fc2(x)


class ConvPosEnc(nn.Module):
    """Convolutional position encoding: x + depth-wise kxk conv(x), on tokens."""

    def __init__(self, dim: int, k: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, k, 1, k // 2, groups=dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        feat = _to_map(x, size)
        return _to_tokens(self.proj(feat) + feat)


class LowPassFilter(nn.Module):
    """The dynamic low-pass filter: each quarter of the channels average-pooled to a 1x1, 2x2,
    3x3 or 6x6 grid, upsampled back (bilinear), concatenated, ReLU."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d((g, g)))
                                    for g in LOW_PASS_GRIDS)
        self.relu = nn.ReLU()
        quarter = in_channels // 4
        self.channel_splits = [quarter] * 4

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        size = feats.shape[-2:]
        parts = torch.split(feats, self.channel_splits, dim=1)
        priors = [F.interpolate(stage(part), size=size, mode="bilinear", align_corners=False)
                  for stage, part in zip(self.stages, parts)]
        return self.relu(torch.cat(priors, dim=1))


class DynamicFilter(nn.Module):
    """High-pass (depth-wise 3/5/7 convs over head groups of V, gated by Q) plus low-pass
    (:class:`LowPassFilter` of V): ``q * HP(v) + LP(v)``."""

    def __init__(self, Ch: int, h: int, window: dict[int, int]) -> None:   # noqa: N803
        super().__init__()
        self.conv_list = nn.ModuleList()
        self.head_splits = []
        for kernel, heads in window.items():
            channels = heads * Ch
            self.conv_list.append(nn.Conv2d(channels, channels, kernel, padding=kernel // 2,
                                            groups=channels))
            self.head_splits.append(heads)
        self.channel_splits = [heads * Ch for heads in self.head_splits]
        self.LP = LowPassFilter(Ch * h)

    def forward(self, q: torch.Tensor, v: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, heads, n, ch = q.shape
        h, w = size
        # (B, heads, N, Ch) -> (B, heads*Ch, H, W), channels grouped head by head
        v_img = v.transpose(2, 3).reshape(b, heads * ch, h, w)
        low = self.LP(v_img)
        high = torch.cat([conv(part) for conv, part in
                          zip(self.conv_list, torch.split(v_img, self.channel_splits, dim=1))],
                         dim=1)

        def to_heads(x: torch.Tensor) -> torch.Tensor:   # (B, heads*Ch, H, W) -> (B, heads, N, Ch)
            return x.reshape(b, heads, ch, n).transpose(2, 3)

        return q * to_heads(high) + to_heads(low)


class FrequencyFilter(nn.Module):
    """The adaptive frequency filter: linear attention (keys softmax-normalised over tokens,
    ``q (softmax(k)^T v)``, scaled) plus :class:`DynamicFilter` (shared with the encoder),
    then the output projection."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, shared_crpe: DynamicFilter) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.crpe = shared_crpe

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        context = torch.einsum("bhnk,bhnv->bhkv", k.softmax(dim=2), v)
        factor_att = torch.einsum("bhnk,bhkv->bhnv", q, context)
        x = self.scale * factor_att + self.crpe(q, v, size=size)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class AFFBlock(nn.Module):
    """Shared position encoding, then pre-norm frequency filter and pre-norm MLP, residual."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int, drop_path: float,
                 shared_cpe: ConvPosEnc, shared_crpe: DynamicFilter) -> None:
        super().__init__()
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        # Registration order is the authors': cpe, crpe, factoratt_crpe, mlp, norm1, norm2.
        self.cpe = shared_cpe
        self.crpe = shared_crpe
        self.factoratt_crpe = FrequencyFilter(dim, num_heads, qkv_bias=True,
                                              shared_crpe=shared_crpe)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm1 = norm_layer(dim)
        self.norm2 = norm_layer(dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.cpe(x, size)
        x = x + self.drop_path(self.factoratt_crpe(self.norm1(x), size))
        return x + self.drop_path(self.mlp(self.norm2(x), size))


class AFFEncoder(nn.Module):
    """``num_layers`` :class:`AFFBlock` s that all share one :class:`ConvPosEnc` and one
    :class:`DynamicFilter`; (B, N, C) tokens in, (B, C, H, W) map out.

    The shared modules are registered on the encoder *and* on every block (``cpe``, ``crpe``,
    ``factoratt_crpe.crpe``), as in the authors' code, so their weights appear under each of
    these names in the state_dict (same tensors): that is how the official checkpoint counts
    468 tensors for AFFormer-base.
    """

    def __init__(self, dim: int, num_layers: int, num_heads: int, mlp_ratio: int,
                 drop_path_list: list[float]) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.cpe = ConvPosEnc(dim, k=3)
        self.crpe = DynamicFilter(Ch=dim // num_heads, h=num_heads, window=HIGH_PASS_WINDOWS)
        self.MHCA_layers = nn.ModuleList(
            AFFBlock(dim, num_heads, mlp_ratio, drop_path_list[idx], shared_cpe=self.cpe,
                     shared_crpe=self.crpe)
            for idx in range(num_layers))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for layer in self.MHCA_layers:
            x = layer(x, size)
        b = x.shape[0]
        return x.reshape(b, *size, -1).permute(0, 3, 1, 2).contiguous()


class Restore(nn.Module):
    """The CNN path: x + conv2(Hardswish(BN(dw3x3(conv1(x))))), hidden width in/2."""

    def __init__(self, in_features: int, out_features: int, norm_cfg: dict | None = None) -> None:
        super().__init__()
        hidden = in_features // 2
        self.conv1 = ConvBN(in_features, hidden, act_layer=nn.Hardswish, norm_cfg=norm_cfg)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, bias=False, groups=hidden)
        self.norm = _norm(norm_cfg, hidden)
        self.act = nn.Hardswish()
        self.conv2 = ConvBN(hidden, out_features, norm_cfg=norm_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.act(self.norm(self.dwconv(self.conv1(x))))
        return x + self.conv2(feat)


class AFFStage(nn.Module):
    """One stage after its patch embeddings.

    Stage 0: ``aggregate(Restore(p0 + p1))``, no attention. Later stages: ``Restore(p0)`` plus
    the :class:`AFFEncoder` of ``p1`` (bilinearly resized to ``p0``'s grid, align_corners=True,
    when the second embedding down-sampled), then ``aggregate`` (1x1 conv, BN, Hardswish) to the
    next stage's width. With ``num_path`` 1 (every released AFFormer) there is one encoder.
    """

    def __init__(self, embed_dim: int, out_embed_dim: int, num_layers: int, num_heads: int,
                 mlp_ratio: int, num_path: int, drop_path_list: list[float], id_stage: int,
                 norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.id_stage = id_stage
        self.Restore = Restore(embed_dim, embed_dim, norm_cfg)
        self.aggregate = ConvBN(embed_dim * num_path, out_embed_dim, act_layer=nn.Hardswish,
                                norm_cfg=norm_cfg)
        if id_stage > 0:
            self.mhca_blks = nn.ModuleList(
                AFFEncoder(embed_dim, num_layers, num_heads, mlp_ratio, drop_path_list)
                for _ in range(num_path))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.id_stage == 0:
            return self.aggregate(self.Restore(inputs[0] + inputs[1]))
        outputs = [self.Restore(inputs[0])]
        for x, encoder in zip(inputs[1:], self.mhca_blks):
            outputs.append(encoder(_to_tokens(x), size=tuple(x.shape[-2:])))
        size = outputs[0].shape[-2:]
        outputs = [o if o.shape[-2:] == size else
                   F.interpolate(o, size=size, mode="bilinear", align_corners=True)
                   for o in outputs]
        # The authors add the first two paths (with num_path 1 these are all of them).
        return self.aggregate(outputs[0] + outputs[1])


def init_afformer_weights(module: nn.Module) -> None:
    """The authors' initialisation when no checkpoint is given: Linear trunc-normal(0.02) with
    zero bias, LayerNorm (1, 0), every Conv2d normal(0, sqrt(2 / (k*k*out/groups))) with zero bias;
    BN keeps (1, 0)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
