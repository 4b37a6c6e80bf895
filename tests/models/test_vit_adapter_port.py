"""ViT-Adapter-L port against the authors' release (czczup/ViT-Adapter) and the AugReg checkpoint.

* names/shapes: the port's state dict is the authors' (recorded from their model code in
  ``tests/fixtures/vit_adapter/reference.json``), at depth 4 and at the real depth 24;
* checkpoint: a synthetic AugReg ViT-L/16-384 checkpoint built from the official key manifest loads
  strictly through the product's loader (``StrictPretrained``'s ``load_strictly`` with the weights
  catalog's mapping): every ViT tensor loaded, only the authors' unused keys dropped, the adapter
  and layer scale declared new, no shape mismatch;
* numbers: with the same seeded weights, the port's four output maps agree with the authors'
  forward to 1e-4 (fixture made once outside the repository; see its README);
* the pos-embed resize, the recipe facts (127.5 normalisation, SyncBN, layer scale, 384).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.models.port_fixtures import fixture_module
from ssa_bench.compat import patch_openmmlab

patch_openmmlab()

from mmseg.registry import MODELS  # noqa: E402

import ssa_bench.models.backbones  # noqa: E402,F401  (registers the ports)
from ssa_bench.configs.baselines import baseline_recipe  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vit_adapter"
MANIFEST = Path(os.environ.get(
    "SSA_BENCH_OFFICIAL_KEYS",
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "official-keys")) / \
    "vit_L16_augreg_ckpt_keys.txt"
REFERENCE = json.loads((FIXTURES / "reference.json").read_text())
# What the authors' loader (mmcv_custom.my_load_checkpoint, non-strict, called by
# TIMMVisionTransformer.init_weights at construction) leaves unused: their model has no class
# token, final norm or classifier.
AUTHORS_UNUSED = {"cls_token", "norm.weight", "norm.bias", "head.weight", "head.bias"}


def _seeded():
    return fixture_module("vit_adapter", "seeded_weights")


def _build(depth: int | None = None, **kwargs):
    cfg = dict(type="ViTAdapter", arch="L", **kwargs)
    if depth is not None:
        cfg["depth"] = depth
    return MODELS.build(cfg)


def _meta(depth: int | None = None):
    with torch.device("meta"):
        return _build(depth)


def _manifest() -> dict[str, tuple[int, ...]]:
    if not MANIFEST.is_file():
        pytest.skip(f"checkpoint key manifest not found at {MANIFEST}")
    shapes = {}
    for line in MANIFEST.read_text().splitlines():
        match = re.fullmatch(r"(\S+) \(([\d, ]*)\)", line.strip())
        assert match, line
        shapes[match.group(1)] = tuple(int(d) for d in match.group(2).replace(" ", "").split(",") if d)
    return shapes


def _truncate(shapes: dict, depth: int) -> dict:
    keep = {}
    for name, shape in shapes.items():
        block = re.match(r"blocks\.(\d+)\.", name)
        if block is None or int(block.group(1)) < depth:
            keep[name] = shape
    return keep


def _mapping():
    from ssa_bench.weights import entry_for

    return entry_for("vit_adapter_l").mapping


@pytest.fixture(scope="module")
def depth4():
    return _build(depth=4).eval()


# ------------------------------------------------------------------ names and shapes
@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
def test_state_dict_is_the_authors(case):
    """Every parameter and buffer name, shape and order of the authors' model (their code, recorded)."""
    record = REFERENCE["cases"][case]
    port = _meta(record["depth"])
    assert [[k, list(v.shape)] for k, v in port.state_dict().items()] == record["state_dict"]


def test_real_depth_layout():
    port = _meta()
    assert port.interaction_indexes == [[0, 5], [6, 11], [12, 17], [18, 23]]
    assert len(port.blocks) == 24 and port.pos_embed.shape == (1, 577, 1024)
    assert [i.extra_extractors is not None for i in port.interactions] == [False] * 3 + [True]
    assert [round(b.drop_path.drop_prob, 6) for b in (port.blocks[0], port.blocks[23])
            if hasattr(b.drop_path, "drop_prob")] == [0.4]
    assert port.interactions[0].extractor.drop_path.drop_prob == pytest.approx(0.4)
    assert port.interactions[0].injector.attn.value_dim == 512
    assert port.interactions[0].extractor.ffn.fc1.out_features == 256


# ------------------------------------------------------------------ the checkpoint
def test_checkpoint_manifest_maps_onto_the_real_depth_by_name():
    """Name arithmetic at depth 24: 296 checkpoint tensors - 5 unused = the 291 ViT tensors."""
    from ssa_bench.weights.mapping import compare

    manifest = _manifest()
    assert len(manifest) == 296
    mapping = _mapping()
    mapped = {k: tuple(v) for k, v in mapping.apply(manifest).items()}
    assert set(manifest) - set(mapped) == AUTHORS_UNUSED      # the catalog drops exactly these
    port = _meta()
    expected = {k: tuple(v.shape) for k, v in port.state_dict().items()}
    report = compare(expected, mapped, mapping)
    assert report.ok, report.problems()
    assert report.loaded == len(mapped) == 291
    vit = {k for k in expected if k.startswith(("patch_embed.", "pos_embed", "blocks."))}
    gammas = {k for k in vit if k.endswith((".gamma1", ".gamma2"))}
    assert len(gammas) == 48
    assert vit - gammas == set(mapped)                          # every ViT tensor comes from it
    # declared new = the adapter and the layer scale, and nothing else
    untracked = {k for k in expected if k.endswith("num_batches_tracked")}
    assert set(report.fresh) == set(expected) - set(mapped) - untracked
    assert gammas <= set(report.fresh)
    assert not any(k.startswith(("patch_embed.", "pos_embed")) for k in report.fresh)


def test_synthetic_checkpoint_loads_strictly(tmp_path):
    """A random checkpoint with the manifest's names and shapes (blocks 0-3) through the product's
    strict loader into a depth-4 port at the real width."""
    from ssa_bench.weights.strict import load_strictly

    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in _truncate(_manifest(), 4).items():
        if name == "head.weight":      # 21843 x 1024, dropped anyway: a small storage, right shape
            state[name] = torch.randn(1, shape[1], generator=generator).expand(shape)
        else:
            state[name] = torch.randn(shape, generator=generator)
    path = tmp_path / "augreg_L16_384_depth4.pth"
    torch.save({"model": state}, path)
    port = _build(depth=4)
    report = load_strictly(port, path, _mapping(), "vit_adapter_l (depth 4)")
    assert report.ok and not report.missing and not report.unexpected and not report.mismatched
    assert report.loaded == 3 + 4 * 12
    for name in ("pos_embed", "patch_embed.proj.weight", "blocks.3.mlp.fc2.weight",
                 "blocks.0.attn.qkv.bias"):
        assert torch.equal(port.state_dict()[name], state[name]), name
    assert torch.equal(port.blocks[2].gamma1, torch.ones(1024))   # layer scale keeps its init


def test_checkpoint_with_another_grid_or_names_is_refused(tmp_path):
    from ssa_bench.weights.mapping import CheckpointMismatchError
    from ssa_bench.weights.strict import load_strictly

    state = {name: torch.zeros(shape) if name != "head.weight" else torch.zeros(1, 1).expand(shape)
             for name, shape in _truncate(_manifest(), 4).items()}
    state["pos_embed"] = torch.zeros(1, 197, 1024)            # a 224 checkpoint: 14x14 + cls
    state["blocks.0.mlp.0.weight"] = state.pop("blocks.0.mlp.fc1.weight")
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError) as error:
        load_strictly(_build(depth=4), path, _mapping(), "vit_adapter_l")
    text = str(error.value)
    assert "pos_embed" in text and "blocks.0.mlp.fc1.weight" in text and "blocks.0.mlp.0.weight" in text


# ------------------------------------------------------------------ numbers against the authors
def _agrees(port, record) -> None:
    seeded = _seeded()
    # A port built on the meta device takes the seeded tensors as they are (assign): ViT-L's
    # random initialisation would only be overwritten.
    on_meta = next(port.parameters()).is_meta
    port.load_state_dict(seeded.seeded_state_dict(port.state_dict()), strict=True, assign=on_meta)
    port.eval()
    with torch.no_grad():
        outs = port(seeded.seeded_input(tuple(record["input_shape"])))
    assert len(outs) == len(record["outputs"]) == 4
    for level, (out, want) in enumerate(zip(outs, record["outputs"])):
        assert list(out.shape) == want["shape"], level
        o = out.double()
        s = want["slice_step"]
        got = o[::s[0], ::s[1], ::s[2], ::s[3]].flatten()
        expected = torch.tensor(want["slice"], dtype=torch.float64)
        assert got.numel() == expected.numel() > 0
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4), \
            (level, (got - expected).abs().max().item())
        for stat, value in (("mean", o.mean()), ("std", o.std()), ("abs_mean", o.abs().mean())):
            assert value.item() == pytest.approx(want[stat], rel=1e-4, abs=1e-4), (level, stat)


def test_forward_matches_the_authors_at_depth_4(depth4):
    _agrees(depth4, REFERENCE["cases"]["depth4_2x64x96"])


@pytest.mark.slow
def test_forward_matches_the_authors_at_depth_24():
    _agrees(_meta(), REFERENCE["cases"]["depth24_1x64x64"])


# ------------------------------------------------------------------ position embeddings
def test_pos_embed_is_resized_bicubically_from_the_384_grid(depth4):
    with torch.no_grad():
        depth4.pos_embed.normal_()
    grid = depth4.pos_embed[:, 1:].reshape(1, 24, 24, 1024).permute(0, 3, 1, 2)
    at512 = depth4._get_pos_embed(32, 32)
    want = F.interpolate(grid, size=(32, 32), mode="bicubic", align_corners=False)
    assert at512.shape == (1, 1024, 1024)
    assert torch.allclose(at512, want.flatten(2).transpose(1, 2))
    # the class-token slot is not used; at 384 the grid comes back unchanged
    assert torch.allclose(depth4._get_pos_embed(24, 24), depth4.pos_embed[:, 1:], atol=1e-5)
    assert depth4._get_pos_embed(30, 40).shape == (1, 1200, 1024)


def test_other_input_sizes_still_run(depth4):
    # Inputs that are not multiples of 32 (where the authors' code cannot run) keep working.
    with torch.no_grad():
        outs = depth4(torch.randn(1, 3, 72, 88))
    assert [tuple(o.shape[-2:]) for o in outs] == [(18, 22), (9, 11), (5, 6), (3, 3)]


# ------------------------------------------------------------------ the recipe
def test_recipe_is_the_authors_setting():
    model = baseline_recipe("vit_adapter_l", 150).model
    backbone = model["backbone"]
    assert backbone["pretrain_size"] == 384 and backbone["layer_scale"] is True
    assert backbone["norm_cfg"]["type"] == "SyncBN"
    assert backbone["interaction_indexes"] == [[0, 5], [6, 11], [12, 17], [18, 23]]
    assert backbone["drop_path_rate"] == pytest.approx(0.4)
    pre = model["data_preprocessor"]
    assert pre["mean"] == [127.5] * 3 and pre["std"] == [127.5] * 3 and pre["bgr_to_rgb"] is True
    assert model["decode_head"]["norm_cfg"]["type"] == "SyncBN"
    assert model["auxiliary_head"]["norm_cfg"]["type"] == "SyncBN"


def test_layer_decay_groups_are_the_authors():
    """Their get_num_layer_for_vit with num_layers 24 + 2: embeddings 0, block i -> i + 1,
    everything else 25; lr scale 0.95 ** (25 - id)."""
    from ssa_bench.models.backbones.layer_decay import layer_id

    for name, _ in _meta().named_parameters():
        full = f"backbone.{name}"
        block = re.match(r"blocks\.(\d+)\.", name)
        if name == "pos_embed" or name.startswith("patch_embed."):
            want = 0
        elif block:
            want = int(block.group(1)) + 1
        else:
            want = 25
        assert layer_id(full, 24) == want, name
