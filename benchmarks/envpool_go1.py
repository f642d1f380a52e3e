"""envpool's Go1 joystick task on the CPU: the adapter's cost over raw envpool, and stride vs rsl_rl per iteration.

1. Adapter overhead: env steps/s of the raw envpool pool (numpy actions, envpool's own next-step autoreset) against
   the same task behind ``EnvpoolVecEnv`` (torch actions in, float32 TensorDicts out, same-step resets), random
   actions, alternating rounds; medians by wall clock and by this process's CPU time (steadier on a shared
   machine), and the adapter's own cost per vector step: the calling thread's CPU time (``time.thread_time``,
   which leaves out envpool's worker threads) in ``adapter.step`` minus that inside ``pool.step``/``reset``. The
   adapter's steps/s also pays for one ``pool.reset`` per step in which envs ended, where raw envpool instead
   spends one of its counted steps on the reset: with random actions the Go1 falls often, so this is a real
   difference in work, not adapter overhead.
2. stride vs rsl_rl: ``compare_rsl_rl.measure_speed`` (both libraries built on ``envpool:<id>`` with the same seed,
   the same train_cfg and one harness loop, alternating blocks) with the runner section of stride's
   ``go1-joystick`` preset (asymmetric actor-critic on ``state`` / ``privileged_state``, [512, 256, 128] ELU,
   observation normalization); ``--steps`` sets ``num_steps_per_env``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/envpool_go1.py --num-envs 64 --steps 24 --rounds 4 --block 2
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import hardware_info, markdown_table, package_version
from compare_rsl_rl import measure_speed, render_markdown

from stride.config.io import load_yaml, preset_path
from stride.env.adapters.envpool import EnvpoolVecEnv


def _round(step: Any, actions: Any, num_envs: int) -> tuple[float, float]:
    """``(steps/s by wall clock, steps/s by this process's CPU time)`` of one round."""
    wall, cpu = time.perf_counter(), time.process_time()
    for a in actions:
        step(a)
    steps = len(actions) * num_envs
    return steps / (time.perf_counter() - wall), steps / (time.process_time() - cpu)


def measure_overhead(env_id: str, num_envs: int, steps: int, rounds: int, seed: int) -> dict[str, Any]:
    """Median env steps/s of raw envpool and of the adapter over ``rounds`` alternating rounds of ``steps`` steps."""
    import envpool

    raw = envpool.make(env_id, env_type="gymnasium", num_envs=num_envs, batch_size=num_envs, seed=seed)
    raw.reset()
    adapter = EnvpoolVecEnv(env_id, num_envs=num_envs, seed=seed)
    inner = [0.0]  # this thread's CPU time inside envpool's step and reset, called by the adapter
    pool_step, pool_reset = adapter.pool.step, adapter.pool.reset

    def timed(call: Any) -> Any:
        def wrapper(*args: Any) -> Any:
            start = time.thread_time()
            out = call(*args)
            inner[0] += time.thread_time() - start
            return out

        return wrapper

    adapter.pool = type(
        "TimedPool", (), {"step": staticmethod(timed(pool_step)), "reset": staticmethod(timed(pool_reset))}
    )
    rng = np.random.default_rng(seed)
    np_actions = rng.uniform(-1.0, 1.0, size=(steps, num_envs, adapter.num_actions))
    torch_actions = torch.from_numpy(np_actions.astype(np.float32))
    _round(raw.step, np_actions[: steps // 10], num_envs)  # warm-up
    _round(adapter.step, torch_actions[: steps // 10], num_envs)
    runs: dict[str, list[tuple[float, float]]] = {"raw envpool": [], "stride adapter": []}
    own_us: list[float] = []
    for _ in range(rounds):
        runs["raw envpool"].append(_round(raw.step, np_actions, num_envs))
        inner[0] = 0.0
        cpu = time.thread_time()
        runs["stride adapter"].append(_round(adapter.step, torch_actions, num_envs))
        own_us.append((time.thread_time() - cpu - inner[0]) / steps * 1e6)
    result: dict[str, Any] = {
        name: {"wall": statistics.median(w for w, _ in v), "cpu": statistics.median(c for _, c in v), "rounds": v}
        for name, v in runs.items()
    }
    result["adapter_own_us_per_step"] = statistics.median(own_us)
    # each adapter round against the raw round just before it: load that drifts between rounds cancels
    for kind, k in (("wall", 0), ("cpu", 1)):
        result[f"paired_ratio_{kind}"] = statistics.median(
            a[k] / r[k] for a, r in zip(runs["stride adapter"], runs["raw envpool"], strict=True)
        )
    result["adapter_own_share"] = result["adapter_own_us_per_step"] * 1e-6 * result["stride adapter"]["wall"] / num_envs
    return result


def measure_code_cost(env_id: str, num_envs: int, steps: int, seed: int) -> dict[str, float]:
    """The adapter's own cost per vector step with the pool's work taken out.

    The adapter drives a stand-in pool that returns one recorded envpool step instantly (its arrays: the real
    dtypes and shapes), once with no env ending and once with 3 envs ending every step (one partial reset each).

    Returns:
        Microseconds per vector step by wall clock and by this thread's CPU time, for both cases.
    """
    import envpool

    real = envpool.make(env_id, env_type="gymnasium", num_envs=num_envs, batch_size=num_envs, seed=seed)
    real.reset()
    recorded = real.step(np.zeros((num_envs, *real.single_action_space.shape)))

    class InstantPool:
        config = real.config
        single_observation_space = real.single_observation_space
        single_action_space = real.single_action_space

        def __init__(self, ending: int) -> None:
            self.ending = ending

        def reset(self, env_id: Any = None) -> Any:
            ids = np.arange(num_envs) if env_id is None else np.asarray(env_id)
            return {key: value[ids] for key, value in recorded[0].items()}, {"env_id": ids.astype(np.int32)}

        def step(self, action: Any, env_id: Any = None) -> Any:
            terminated = np.zeros(num_envs, dtype=bool)
            terminated[: self.ending] = True
            return recorded[0], recorded[1], terminated, recorded[3], recorded[4]

    result: dict[str, float] = {}
    actions = torch.rand(num_envs, real.single_action_space.shape[0]) * 2.0 - 1.0
    for case, ending in (("no_dones", 0), ("3_dones", 3)):
        adapter = EnvpoolVecEnv(InstantPool(ending))
        for _ in range(steps // 10):
            adapter.step(actions)
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(steps):
            adapter.step(actions)
        result[f"{case}_wall_us"] = (time.perf_counter() - wall) / steps * 1e6
        result[f"{case}_cpu_us"] = (time.thread_time() - cpu) / steps * 1e6
    return result


def go1_train_cfg(steps: int, seed: int) -> dict[str, Any]:
    """The runner section of the ``go1-joystick`` preset with ``num_steps_per_env = steps``."""
    path = preset_path("go1-joystick")
    if path is None:
        raise FileNotFoundError("stride's go1-joystick preset is missing")
    cfg = copy.deepcopy(load_yaml(path)["runner"])
    cfg.update(num_steps_per_env=steps, seed=seed)
    return cfg


def compare_speed(
    env_id: str, num_envs: int, steps: int, rounds: int, block: int, warmup: int, seed: int
) -> tuple[dict[str, Any], str]:
    """stride vs rsl_rl per iteration on ``envpool:<env_id>`` with the go1-joystick preset's runner config.

    Returns:
        ``compare_rsl_rl.measure_speed``'s result and its markdown report.
    """
    speed_args = argparse.Namespace(
        task=f"envpool:{env_id}",
        num_envs=num_envs,
        steps=steps,
        device="cpu",
        rounds=rounds,
        block=block,
        warmup=warmup,
        seeds=[seed],
        stride_compile=None,
        hidden=None,
        model="mlp",
        rnn_hidden=None,
    )
    train_cfg = go1_train_cfg(steps, seed)
    speed = measure_speed(speed_args, train_cfg=train_cfg)
    report = {
        "config": {**vars(speed_args), "hidden": train_cfg["actor"]["hidden_dims"], "train_cfg": train_cfg},
        "hardware": hardware_info("cpu"),
        "versions": {
            "torch": torch.__version__,
            "stride": package_version("stride-rl") or "unknown",
            "rsl_rl": package_version("rsl-rl-lib") or "unknown",
        },
        "speed": speed,
    }
    return speed, render_markdown(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Go1JoystickFlatTerrain-v1")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=24, help="num_steps_per_env of the speed comparison")
    parser.add_argument("--rounds", type=int, default=4, help="rounds (overhead and speed)")
    parser.add_argument("--block", type=int, default=2, help="speed: iterations per library per round")
    parser.add_argument("--warmup", type=int, default=1, help="speed: discarded iterations per library")
    parser.add_argument("--overhead-steps", type=int, default=200, help="overhead: vector steps per round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    hw = hardware_info("cpu")
    print(f"Hardware: {hw['cpu_model']} ({hw['cpu_count']} logical CPUs), torch threads {hw['torch_num_threads']}")
    result: dict[str, Any] = {"hardware": hw, "args": vars(args)}
    if not args.skip_overhead:
        over = measure_overhead(args.env, args.num_envs, args.overhead_steps, args.rounds, args.seed)
        result["overhead"] = over
        rows = [
            [name, f"{over[name]['wall']:,.0f}", f"{over[name]['cpu']:,.0f}"]
            for name in ("raw envpool", "stride adapter")
        ]
        print(f"\n### Adapter overhead: {args.env}, {args.num_envs} envs, random actions\n")
        print(markdown_table(["env", "steps/s (wall, median)", "steps/s (CPU time, median)"], rows))
        print(
            f"\nAdapter's own time (this thread's CPU time outside envpool): {over['adapter_own_us_per_step']:.0f} µs "
            f"per vector step ({100 * over['adapter_own_share']:.1f} % of the adapter's wall time per step). "
            f"Adapter / raw steps/s, paired rounds: {over['paired_ratio_wall']:.3f} (wall), "
            f"{over['paired_ratio_cpu']:.3f} (CPU time)."
        )
        code = measure_code_cost(args.env, args.num_envs, 20 * args.overhead_steps, args.seed)
        result["code_cost"] = code
        print(
            f"Adapter code alone (stand-in pool that answers instantly): {code['no_dones_cpu_us']:.0f} µs CPU "
            f"({code['no_dones_wall_us']:.0f} µs wall) per vector step without resets, {code['3_dones_cpu_us']:.0f} µs "
            f"CPU ({code['3_dones_wall_us']:.0f} µs wall) with 3 envs ending every step."
        )
    if not args.skip_speed:
        options = (args.num_envs, args.steps, args.rounds, args.block, args.warmup, args.seed)
        speed, report = compare_speed(args.env, *options)
        result["speed"] = speed
        print("\n" + report)
    if args.json is not None:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, default=str)


if __name__ == "__main__":
    main()
