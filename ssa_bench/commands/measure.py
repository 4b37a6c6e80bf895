"""`ssa-bench measure BASELINE`: GFLOPs (two counts), parameters and latency of one model, with or
without the SSA classifier; names are checked before torch is imported."""
from __future__ import annotations

import json
from argparse import Namespace

from ssa_bench.commands.shared import out
from ssa_bench.errors import UserError


def cmd_measure(args: Namespace) -> int:
    from typing import get_args

    from ssa_bench.vocabulary.names import baseline_info, dataset_info
    from ssa_bench.classifier_settings.ssa import Variant

    variants = get_args(Variant)
    if args.variant not in variants:       # before importing torch (seconds) for nothing
        raise UserError(f"unknown SSA variant '{args.variant}'", key="--variant", fix=f"use one of: {', '.join(variants)}")
    baseline_info(args.baseline, key="BASELINE")
    dataset_info(args.dataset, key="--dataset")
    from ssa_bench.stages.measure import measure_model

    result = measure_model(args.baseline, ssa=args.ssa, dataset=args.dataset, variant=args.variant)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        gflops = result["gflops"]
        out.print(f"{args.baseline}{' + SSA (' + args.variant + ')' if args.ssa else ''} on "
                  f"{args.dataset}: {gflops['paper']:.2f} GFLOPs (paper count), {gflops['full']:.2f} "
                  f"GFLOPs (with matmuls), {result['params_m']:.2f} M params, latency "
                  f"{result['latency_ms']:.1f} ms on {result['device']}")
    return 0
