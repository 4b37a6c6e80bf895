"""GFLOPs of an inference graph, counted two ways (both count one multiply-add as one FLOP).

``paper``: the module-hook convention of the MMCV 1.x counter (``mmcv.cnn.get_model_complexity_info``)
that MMSeg 0.x's ``tools/get_flops.py`` used, and with it the SSA paper and the papers of its
baselines. A forward hook on each module of an *exactly* listed type adds that module's cost:
convolutions (incl. transposed), ``nn.Linear``, BN/GN/IN/LN, pooling, ``nn.Upsample`` and the
ReLU family (ReLU, PReLU, ELU, LeakyReLU, ReLU6). Everything else is free: functional calls
(``F.interpolate``, ``F.linear``), bare matrix products (``@``, ``torch.matmul``, ``einsum``), so
attention scores and SSA's class-centre products, and ``nn.MultiheadAttention`` (its projections
run through ``F.linear`` inside ``F.multi_head_attention_forward``; its ``out_proj`` is a Linear
*subclass*, which an exact-type lookup misses). That is why SegFormer-B5 is 52.5 G in the paper.
Norm layers a config builds as ``SyncBN`` are not counted either (``nn.SyncBatchNorm`` was not in
MMCV 1.x's table and MMSeg 0.x counted the model as built; mmengine's ``revert_sync_batchnorm``,
which we need on the CPU, gives ``_BatchNormXd``, also outside the table): a norm is 2 FLOPs per
element, so this moves totals by well under 1%.
We count it with ptflops' ``pytorch`` (module-hook) backend, the maintained descendant of the same
counter, configured to MMCV 1.x's table: functional patching off, GELU and MultiheadAttention
treated as zero-ops (ptflops counts them, MMCV 1.x did not), and MMCV's own Conv/Linear/Pool
wrapper classes hooked like the torch classes they extend (MMCV 1.x listed them explicitly).
The total is MMCV 1.x's too: each counted module once (``model.modules()``), with every call it
made; ptflops instead walks ``children()`` from the root and adds a module shared by several
parents once per parent (AFFormer's encoders share their position-encoding convs with each of
their blocks: ptflops would say 4.96 G for AFFormer-B at 512x512, MMCV 1.x 4.33, the paper 4.3).

``full``: mmengine's ``FlopAnalyzer`` (fvcore's JIT-trace counter): every traced ``aten`` op with a
handle -- convolution, linear/addmm, matmul/mm/bmm/einsum, batch/group/layer/instance norm,
bilinear/nearest upsampling, adaptive average pooling, grid sampling -- wherever it is called
from, so functional calls and attention matmuls are included; element-wise ops and activations
are not counted. This is mmengine's ``get_model_complexity_info``; it has no hook mode.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from functools import partial

import torch
from torch import nn

GIGA = 1e9


def _mmcv1_hook_table() -> dict[type, object]:
    """Extra exact-type hooks so MMCV 2.x's wrapper classes count as MMCV 1.x counted them."""
    from mmcv.cnn.bricks import wrappers
    from ptflops import pytorch_ops

    conv = pytorch_ops.conv_flops_counter_hook
    return {
        wrappers.Conv2d: conv,
        wrappers.Conv3d: conv,
        wrappers.ConvTranspose2d: partial(conv, transpose=True),
        wrappers.MaxPool2d: pytorch_ops.pool_flops_counter_hook,
        wrappers.Linear: pytorch_ops.linear_flops_counter_hook,
    }


# Counted by ptflops' module table but not by MMCV 1.x's.
_NOT_COUNTED_BY_MMCV1 = (nn.GELU, nn.MultiheadAttention)


@contextlib.contextmanager
def _mmcv1_total():
    """Within the block, ptflops totals its per-module counts as MMCV 1.x did: the sum over
    ``model.modules()`` (a shared module counted once, with all its calls)."""
    from ptflops import pytorch_engine

    def total(self):
        flops = sum(m.__flops__ for m in self.modules() if pytorch_engine.is_supported_instance(m))
        return flops / self.__batch_counter__, pytorch_engine.get_model_parameters_number(self)

    original = pytorch_engine.compute_average_flops_cost
    pytorch_engine.compute_average_flops_cost = total
    try:
        yield
    finally:
        pytorch_engine.compute_average_flops_cost = original


def paper_flops(model: nn.Module, image: torch.Tensor) -> float:
    """GFLOPs by the MMCV 1.x module-hook convention (see the module docstring)."""
    from ptflops import get_model_complexity_info

    # ptflops prints its notes (and a caught exception) to stdout; keep them off the user's
    # screen and show them only if counting fails.
    notes = io.StringIO()
    with contextlib.redirect_stdout(notes), contextlib.redirect_stderr(notes), \
            _mmcv1_total():
        macs, _ = get_model_complexity_info(
            model, tuple(image.shape[1:]),
            input_constructor=lambda _shape: image,
            as_strings=False, print_per_layer_stat=False, verbose=False,
            backend="pytorch",
            ignore_modules=list(_NOT_COUNTED_BY_MMCV1),
            custom_modules_hooks=_mmcv1_hook_table(),
            backend_specific_config={"count_functional": False},
            ost=notes,
        )
    if macs is None:
        # ptflops caught the forward's exception; rerun the forward to raise it here.
        with torch.no_grad():
            model(image)
        raise RuntimeError(f"ptflops could not count the model's FLOPs: {notes.getvalue()}")
    return macs / image.shape[0] / GIGA


def full_flops(model: nn.Module, image: torch.Tensor) -> float:
    """GFLOPs by a JIT trace that also counts matrix products (mmengine's FlopAnalyzer)."""
    from mmengine.analysis import FlopAnalyzer

    analyzer = FlopAnalyzer(model, (image,))
    # Ops without a handle (element-wise, activations) are skipped by design; do not warn about
    # each of them, nor about modules the trace never entered (e.g. auxiliary heads).
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings("none")
    with warnings.catch_warnings():
        # torch deprecates torch.jit (which the counter is built on) with a warning per call.
        warnings.simplefilter("ignore", DeprecationWarning)
        return analyzer.total() / image.shape[0] / GIGA


def count_flops(model: nn.Module, input_size: tuple[int, int]) -> dict:
    """Both counts for a batch-1 input of ``input_size`` (h, w); ``model`` in eval mode."""
    image = torch.randn(1, 3, *input_size)
    with torch.no_grad():
        paper = paper_flops(model, image)
        full = full_flops(model, image)
    return {"paper": paper, "full": full, "input_size": list(input_size)}
