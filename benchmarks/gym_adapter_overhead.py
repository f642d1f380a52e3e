"""Steps/s of a raw Gymnasium vector env versus the same env behind stride's GymnasiumVecEnv adapter.

Random actions, no policy. The two are timed in alternating rounds (raw, adapter, raw, adapter, ...) so that load
from other processes hits both alike; the figures are medians over rounds, by wall clock and by this process's CPU
time (the steadier figure on a shared machine). The raw env is timed twice: with
Gymnasium's defaults (``make_vec`` with NEXT_STEP autoreset) and with the SAME_STEP autoreset the adapter uses.
Two steadier ratios follow the table: each adapter round against the raw round just before it (median and IQR over
rounds), and the adapter against its own vector env on the same states (the vector env's share of the adapter's
CPU time, which no difference between trajectories or load can move).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gym_adapter_overhead.py --env HalfCheetah-v5 --num-envs 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import hardware_info, markdown_table

from stride.env.adapters.gymnasium import GymnasiumVecEnv


def _round(env: Any, actions: Any) -> tuple[float, float]:
    """``(steps/s by wall clock, steps/s by this process's CPU time)`` of one round."""
    wall, cpu = time.perf_counter(), time.process_time()
    for a in actions:
        env.step(a)
    steps = len(actions) * env.num_envs
    return steps / (time.perf_counter() - wall), steps / (time.process_time() - cpu)


def measure(env_id: str, num_envs: int, steps: int, rounds: int, seed: int) -> dict[str, Any]:
    """Median steps/s over ``rounds`` alternating rounds of ``steps`` vector steps each."""
    import gymnasium as gym

    raw_default = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    raw_same = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    adapter = GymnasiumVecEnv(env_id, num_envs=num_envs, seed=seed)
    # CPU time spent inside the wrapped vector env's step: the rest of adapter.step is the adapter's own work
    inner_cpu = [0.0]
    inner_step = adapter.venv.step

    def timed_step(actions: Any) -> Any:
        start = time.process_time()
        out = inner_step(actions)
        inner_cpu[0] += time.process_time() - start
        return out

    adapter.venv.step = timed_step
    raw_default.reset(seed=seed)
    raw_same.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low, high = raw_default.single_action_space.low, raw_default.single_action_space.high
    np_actions = rng.uniform(low, high, size=(steps, num_envs, *low.shape)).astype(np.float32)
    torch_actions = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(steps, num_envs, adapter.num_actions))).float()
    names = ("raw (NEXT_STEP, default)", "raw (SAME_STEP)", "stride adapter")
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    _round(raw_default, np_actions[: steps // 10])  # warm-up
    _round(adapter, torch_actions[: steps // 10])
    own_us: list[float] = []
    inner_share: list[float] = []
    for _ in range(rounds):
        runs[names[0]].append(_round(raw_default, np_actions))
        inner_cpu[0] = 0.0
        cpu = time.process_time()
        runs[names[2]].append(_round(adapter, torch_actions))
        total = time.process_time() - cpu
        own_us.append((total - inner_cpu[0]) / steps * 1e6)
        inner_share.append(inner_cpu[0] / total)
        runs[names[1]].append(_round(raw_same, np_actions))
    for env in (raw_default, raw_same, adapter):
        env.close()
    result: dict[str, Any] = {
        name: {
            "wall": statistics.median(w for w, _ in values),
            "cpu": statistics.median(c for _, c in values),
            "rounds": values,
        }
        for name, values in runs.items()
    }
    result["adapter_own_us_per_step"] = statistics.median(own_us)
    # each adapter round against the raw default round just before it: load that drifts between rounds cancels
    paired = {
        kind: [a[k] / r[k] for a, r in zip(runs[names[2]], runs[names[0]], strict=True)]
        for kind, k in (("wall", 0), ("cpu", 1))
    }
    result["paired_ratio"] = {kind: _quartiles(values) for kind, values in paired.items()}
    # the adapter's steps/s ÷ the steps/s of its own vector env on the very same states and actions
    result["same_states_ratio"] = _quartiles(inner_share)
    return result


def _quartiles(values: list[float]) -> dict[str, float]:
    """Median and interquartile range of a list of per-round figures (one figure: all three equal it)."""
    if len(values) == 1:
        return {"median": values[0], "q1": values[0], "q3": values[0]}
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return {"median": q2, "q1": q1, "q3": q3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=500, help="vector steps per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    result = measure(args.env, args.num_envs, args.steps, args.rounds, args.seed)
    reference = result["raw (NEXT_STEP, default)"]
    rows = [
        [
            name,
            f"{value['wall']:,.0f}",
            f"{value['wall'] / reference['wall']:.3f}",
            f"{value['cpu']:,.0f}",
            f"{value['cpu'] / reference['cpu']:.3f}",
        ]
        for name, value in result.items()
        if isinstance(value, dict) and "rounds" in value
    ]
    header = ["env", "steps/s (wall)", "÷ raw default", "steps/s (CPU time)", "÷ raw default"]
    sys.stdout.write(f"{args.env}, {args.num_envs} envs, random actions, median of {args.rounds} rounds\n")
    sys.stdout.write(markdown_table(header, rows) + "\n")
    raw_us = 1e6 * args.num_envs / reference["cpu"]
    own = result["adapter_own_us_per_step"]
    sys.stdout.write(
        f"adapter's own work: {own:.0f} µs CPU per vector step (outside the vector env's step), "
        f"{100 * own / raw_us:.1f} % of a raw step ({raw_us:.0f} µs)\n"
    )
    paired, same = result["paired_ratio"], result["same_states_ratio"]
    sys.stdout.write(
        "adapter ÷ raw default, round by round (each adapter round against the raw round just before it): "
        f"median {paired['wall']['median']:.3f} wall [IQR {paired['wall']['q1']:.3f}–{paired['wall']['q3']:.3f}], "
        f"{paired['cpu']['median']:.3f} CPU time [IQR {paired['cpu']['q1']:.3f}–{paired['cpu']['q3']:.3f}]\n"
        "adapter ÷ its own vector env on the same states (vector-env CPU time ÷ adapter CPU time): "
        f"median {same['median']:.3f} [IQR {same['q1']:.3f}–{same['q3']:.3f}]\n"
    )
    if args.json is not None:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result | {"hardware": hardware_info("cpu"), "args": vars(args)}, handle, indent=1)


if __name__ == "__main__":
    main()
