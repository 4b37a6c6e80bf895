"""The two FLOPs conventions on modules whose cost is known by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from ssa_bench.efficiency.flops import count_flops, full_flops, paper_flops  # noqa: E402

GIGA = 1e9


class ConvThenMatmul(nn.Module):
    """conv 3->8 (3x3, bias) on 16x16, then a bare (HW x C) @ (C x HW) product."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        y = self.conv(x).flatten(2)                  # (1, 8, 256)
        return y.transpose(1, 2) @ y                 # (1, 256, 256): 256*256*8 MACs


CONV_MACS = 16 * 16 * 8 * 3 * 9
CONV_BIAS = 16 * 16 * 8
MATMUL_MACS = 256 * 256 * 8


def test_paper_counts_modules_but_not_matmuls():
    image = torch.randn(1, 3, 16, 16)
    assert paper_flops(ConvThenMatmul(), image) * GIGA == pytest.approx(CONV_MACS + CONV_BIAS)


def test_full_counts_matmuls_but_not_biases():
    image = torch.randn(1, 3, 16, 16)
    # fvcore/mmengine count a convolution as its multiply-adds (no bias term) and add the matmul
    assert full_flops(ConvThenMatmul(), image) * GIGA == pytest.approx(CONV_MACS + MATMUL_MACS)


class Transformerish(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.fc = nn.Linear(16, 32)
        self.act = nn.GELU()
        self.relu = nn.ReLU()

    def forward(self, x):                            # (1, 3, 4, 4) -> 16 tokens of width 16
        tokens = x.flatten(2).transpose(1, 2).repeat(1, 1, 6)[..., :16]   # (1, 16, 16)
        tokens, _ = self.attn(tokens, tokens, tokens)
        return self.relu(self.act(self.fc(tokens)))


def test_paper_ignores_multihead_attention_and_gelu_as_mmcv1_did():
    image = torch.randn(1, 3, 4, 4)
    linear = 16 * 16 * 32 + 16 * 32                  # tokens*in*out + bias
    relu = 16 * 32
    assert paper_flops(Transformerish(), image) * GIGA == pytest.approx(linear + relu)
    # the traced count sees the attention's projections and products
    assert full_flops(Transformerish(), image) * GIGA > 16 * 16 * 32 + 4 * 16 * 16 * 16


def test_mmcv_wrapper_classes_count_like_torch_classes():
    from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d

    plain, wrapped = nn.Conv2d(3, 4, 1), MMCVConv2d(3, 4, 1)
    image = torch.randn(1, 3, 8, 8)
    assert paper_flops(wrapped, image) == paper_flops(plain, image) > 0


def test_count_flops_record_shape():
    record = count_flops(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).eval(), (8, 6))
    assert set(record) == {"paper", "full", "input_size"}
    assert record["input_size"] == [8, 6]
    conv = 8 * 6 * 4 * 3 + 8 * 6 * 4
    norm = 2 * 8 * 6 * 4
    assert record["paper"] * GIGA == pytest.approx(conv + norm, abs=1)


def test_paper_count_surfaces_the_forward_error():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom in forward")

    with pytest.raises(RuntimeError, match="boom in forward"):
        paper_flops(Broken(), torch.randn(1, 3, 4, 4))
