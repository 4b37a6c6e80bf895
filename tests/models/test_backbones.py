"""The SeaFormer and AFFormer ports beyond their golden forwards: any grid, a 512x512 forward,
sizes in range, clear errors."""
from __future__ import annotations

import pytest
import torch

from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from mmseg.registry import MODELS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import ssa_bench.models.backbones  # noqa: E402,F401  (registers the ports)
from ssa_bench.configs.baselines import baseline_recipe  # noqa: E402
from ssa_bench.efficiency.flops import paper_flops  # noqa: E402
from ssa_bench.efficiency.inference import InferenceGraph, inference_params, prepare_for_inference  # noqa: E402

register_all_modules(init_default_scope=True)


def _build(name: str, num_classes: int = 150):
    return prepare_for_inference(MODELS.build(baseline_recipe(name, num_classes).model))


# Each stage's shape and values against the authors' models: tests/models/test_seaformer_port.py
# and test_afformer_port.py (per-stage sums, channel means and first values to 1e-4).


def test_seaformer_attention_is_not_quadratic_in_tokens():
    # Axial attention builds H x H and W x W maps: a non-square input must work and keep its shape.
    from ssa_bench.models.backbones.seaformer import SqueezeAxialAttention

    attention = SqueezeAxialAttention(dim=32, key_dim=8, num_heads=4).eval()
    x = torch.randn(2, 32, 6, 10)
    with torch.no_grad():
        assert attention(x).shape == x.shape


def test_afformer_filter_handles_any_grid():
    from ssa_bench.models.backbones.afformer_modules import AFFEncoder

    encoder = AFFEncoder(dim=32, num_layers=2, num_heads=8, mlp_ratio=2,
                         drop_path_list=[0.0, 0.0]).eval()
    with torch.no_grad():
        out = encoder(torch.randn(2, 7 * 9, 32), (7, 9))
    assert out.shape == (2, 32, 7, 9)


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(ValueError, match="arch must be one of"):
        MODELS.build(dict(type="SeaFormer", arch="XL"))
    with pytest.raises(ValueError, match="arch must be one of"):
        MODELS.build(dict(type="AFFormer", arch="T"))


def test_seaformer_head_checks_its_widths():
    with pytest.raises(ValueError, match="embed_dim"):
        MODELS.build(dict(type="SeaFormerHead", in_channels=[64, 192, 256], in_index=[0, 1, 2],
                          embed_dims=[128], channels=128, num_classes=5))
    with pytest.raises(ValueError, match="must equal the last"):
        MODELS.build(dict(type="SeaFormerHead", in_channels=[64, 192, 256], in_index=[0, 1, 2],
                          embed_dims=[128, 160], channels=128, num_classes=5))


# Paper's Table 1 GFLOPs at 512x512 (ADE20K, 150 classes), and the authors' parameter counts
# (SeaFormer paper: B 8.6 M, L 14.0 M; AFFormer paper: B 3.0 M).
@pytest.mark.parametrize("name, paper_gflops, params_m", [
    ("seaformer_b", 1.8, 8.6),
    ("seaformer_l", 6.4, 14.0),
    ("afformer_b", 4.3, 3.0),
])
def test_lightweight_port_forward_at_512_and_size(name, paper_gflops, params_m):
    model = _build(name)
    graph = InferenceGraph(model, (512, 512))
    image = torch.randn(1, 3, 512, 512)
    with torch.no_grad():
        logits = graph(image)
    assert logits.shape == (1, 150, 512, 512)
    assert torch.isfinite(logits).all()
    assert paper_flops(graph, image) == pytest.approx(paper_gflops, rel=0.05)
    assert inference_params(model) / 1e6 == pytest.approx(params_m, rel=0.10)


def test_ports_train_one_step():
    # A loss step through the mmseg API: the ports are trainable modules, not just forward code.
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData

    for name in ("seaformer_b", "afformer_b"):
        model = MODELS.build(baseline_recipe(name, 4).model)
        from mmengine.model import revert_sync_batchnorm

        model = revert_sync_batchnorm(model).train()
        images = torch.randn(2, 3, 64, 64)
        samples = []
        for _ in range(2):
            sample = SegDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64)))
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 64, 64)))
            samples.append(sample)
        losses = model(images, samples, mode="loss")
        total = sum(v for k, v in losses.items() if "loss" in k)
        total.backward()
        grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_layer_decay_groups_follow_vit_depth():
    from mmengine.optim import build_optim_wrapper
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Module()
            self.backbone.patch_embed = nn.Conv2d(3, 4, 2, 2)
            self.backbone.pos_embed = nn.Parameter(torch.zeros(1, 4, 4))
            self.backbone.blocks = nn.ModuleList(nn.Linear(4, 4) for _ in range(2))
            self.decode_head = nn.Linear(4, 2)

    model = Tiny()
    wrapper = build_optim_wrapper(model, dict(
        type="OptimWrapper", optimizer=dict(type="AdamW", lr=1.0, weight_decay=0.05),
        constructor="ViTLayerDecayOptimizerConstructor",
        paramwise_cfg=dict(num_layers=2, decay_rate=0.5)))
    lr_of = {}
    decay_of = {}
    for group in wrapper.optimizer.param_groups:
        for param in group["params"]:
            lr_of[id(param)] = group["lr"]
            decay_of[id(param)] = group["weight_decay"]
    b = model.backbone
    assert lr_of[id(b.patch_embed.weight)] == lr_of[id(b.pos_embed)] == 0.5 ** 3
    assert lr_of[id(b.blocks[0].weight)] == 0.5 ** 2
    assert lr_of[id(b.blocks[1].weight)] == 0.5
    assert lr_of[id(model.decode_head.weight)] == 1.0
    assert decay_of[id(b.pos_embed)] == decay_of[id(b.blocks[0].bias)] == 0.0
    assert decay_of[id(b.blocks[0].weight)] == 0.05


def test_deformable_attention_samples_the_value_at_the_reference_point():
    # With zero offsets and one point/level/head, deformable attention reads the value map
    # bilinearly at the reference point: at a cell centre that is exactly that cell's value.
    from ssa_bench.models.backbones.vit_adapter_modules import (MSDeformAttention,
                                                                reference_points)

    attn = MSDeformAttention(dim=4, levels=1, heads=1, points=1, value_ratio=1.0)
    with torch.no_grad():
        attn.sampling_offsets.bias.zero_()
        for linear in (attn.value_proj, attn.output_proj):
            linear.weight.copy_(torch.eye(4))
            linear.bias.zero_()
    value = torch.randn(1, 3 * 5, 4)                 # a 3x5 grid
    refs = reference_points([(3, 5)], torch.device("cpu"))
    out = attn(torch.randn(1, 15, 4), refs, value, [(3, 5)])
    assert torch.allclose(out, value, atol=1e-5)


# ViT-Adapter-L's forward at 512x512 and its paper GFLOPs: tests/configs/test_baselines_forward.py.


def test_vit_adapter_output_pyramid_small_input():
    # The architecture at L width but on a 64x64 image: four 1024-wide maps at 1/4 ... 1/32.
    backbone = MODELS.build(dict(type="ViTAdapter", arch="L")).eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outputs] == [(1024, 16, 16), (1024, 8, 8),
                                                     (1024, 4, 4), (1024, 2, 2)]
