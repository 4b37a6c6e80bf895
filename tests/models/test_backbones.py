"""The SeaFormer and AFFormer ports: registered, right shapes, a 512x512 forward, sizes in range."""
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


@pytest.mark.parametrize("arch, out_indices, channels, strides", [
    ("B", (0, 1, 2, 3, 4), [32, 64, 128, 192, 256], [4, 8, 16, 32, 64]),
    ("L", (0, 1, 2, 3, 4), [64, 128, 192, 256, 320], [4, 8, 16, 32, 64]),
])
def test_seaformer_stage_shapes(arch, out_indices, channels, strides):
    backbone = MODELS.build(dict(type="SeaFormer", arch=arch, out_indices=out_indices)).eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 128, 128))
    assert [o.shape[1] for o in outputs] == channels == backbone.out_channels
    assert [128 // o.shape[-1] for o in outputs] == strides


def test_afformer_stage_shapes():
    backbone = MODELS.build(dict(type="AFFormer", arch="B", out_indices=(0, 1, 2, 3))).eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 128, 128))
    assert [o.shape[1] for o in outputs] == [32, 96, 176, 216]
    # the last stage keeps 1/16 (head-free: the classifier reads it directly)
    assert [128 // o.shape[-1] for o in outputs] == [4, 8, 16, 16]


def test_seaformer_attention_is_not_quadratic_in_tokens():
    # Axial attention builds H x H and W x W maps: a non-square input must work and keep its shape.
    from ssa_bench.models.backbones.seaformer import SqueezeAxialAttention

    attention = SqueezeAxialAttention(dim=32, key_dim=8, num_heads=4).eval()
    x = torch.randn(2, 32, 6, 10)
    with torch.no_grad():
        assert attention(x).shape == x.shape


def test_afformer_filter_handles_any_grid():
    from ssa_bench.models.backbones.afformer import AdaptiveFrequencyFilter

    filt = AdaptiveFrequencyFilter(dim=32, num_heads=8).eval()
    with torch.no_grad():
        out = filt(torch.randn(2, 7 * 9, 32), (7, 9))
    assert out.shape == (2, 63, 32)


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
