"""One PPO mini-batch's model work in float32 and under bfloat16 autocast, alternating, on this CPU's ISA.

Actor and critic are stride MLPs [obs → 256 → 256 → 1] (ELU), run forward and backward on one mini-batch of the
cartpole benchmark (6,144 rows), the two precisions alternating within one process. Run it several times with the
instruction set capped by the environment to see what ``use_mixed_precision`` does on CPUs without AMX::

    OMP_NUM_THREADS=1 python benchmarks/mixed_precision_isa.py                                  # this CPU
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 python benchmarks/mixed_precision_isa.py                # no AMX
    ONEDNN_MAX_CPU_ISA=AVX512_CORE python benchmarks/mixed_precision_isa.py                     # no bfloat16 ops
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python benchmarks/mixed_precision_isa.py --rounds 3                                        # AVX2 only

The caps change oneDNN's kernels (bfloat16 matrix products), ATen's vector kernels and MKL's (float32 products):
an emulation of an older CPU on this one, not a measurement of one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence

import torch

from stride.modules import MLP


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Time the mini-batch's model work in both precisions and print one line.

    Returns:
        Medians in ms (``float32``, ``bfloat16``) and their ratio (``ratio`` = bfloat16 / float32).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=6144, help="mini-batch size")
    parser.add_argument("--obs-dim", type=int, default=4)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--rounds", type=int, default=7, help="timed calls per precision (after one warm-up each)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    actor = MLP(args.obs_dim, 1, list(args.hidden), "elu")
    critic = MLP(args.obs_dim, 1, list(args.hidden), "elu")
    x = torch.randn(args.rows, args.obs_dim)

    def step(mixed: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed):
            a, v = actor(x), critic(x)
        (a.float().pow(2).mean() + v.float().pow(2).mean()).backward()

    seconds: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.rounds):
        for mixed in (False, True) if r % 2 == 0 else (True, False):
            step(mixed)  # warm-up call of this precision in this round
            start = time.perf_counter()
            step(mixed)
            seconds[mixed].append(time.perf_counter() - start)
    fp32, bf16 = (1e3 * statistics.median(seconds[m]) for m in (False, True))
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "none")
    aten = os.environ.get("ATEN_CPU_CAPABILITY", "default")
    print(
        f"ONEDNN_MAX_CPU_ISA={cap} ATEN_CPU_CAPABILITY={aten}: float32 {fp32:.1f} ms, bfloat16 {bf16:.1f} ms, "
        f"bfloat16/float32 {bf16 / fp32:.2f} (load average {os.getloadavg()[0]:.2f})"
    )
    return {"float32": fp32, "bfloat16": bf16, "ratio": bf16 / fp32}


if __name__ == "__main__":
    main()
