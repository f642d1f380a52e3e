"""The effect of symmetry augmentation + mirror loss on return and on the policy's asymmetry.

For each seed, trains the same preset twice on one task, without and with ``symmetry_cfg`` (data augmentation and
mirror loss), for a fixed budget of iterations, evaluating along the way:

- the deterministic return on fresh envs (seeds no training env used);
- the asymmetry ``‖μ(M s) − M μ(s)‖₂`` of the mean action μ on held-out states, averaged, and relative to the
  mean ``‖μ(s)‖₂``. Held-out states: for cart-pole, uniform states inside the termination bounds; for MuJoCo,
  the observations of the deterministic evaluation episodes (``policy`` states) and of a random-action rollout
  with fixed seed (``random`` states, the same set for every run).

``run`` writes one JSON per (task, condition, seed); ``report`` prints the markdown tables.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/symmetry_effect.py run --task cartpole --out /tmp/sym
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/symmetry_effect.py run --task Ant-v5 --out /tmp/sym
    .venv/bin/python benchmarks/symmetry_effect.py report --out /tmp/sym
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from tensordict import TensorDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt_mean_std, hardware_info, markdown_table

from stride.config.io import load_yaml, preset_path
from stride.env.symmetry import SYMMETRY_FUNCTIONS
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.runners.evaluate import evaluate_policy

CONDITIONS: dict[str, dict[str, Any] | None] = {
    "baseline": None,
    "augmentation+mirror": {"use_data_augmentation": True, "use_mirror_loss": True, "mirror_loss_coeff": 1.0},
}
"""Training conditions compared (the symmetry function is the task's worked one)."""

TASKS: dict[str, dict[str, Any]] = {
    # preset name, env name, iterations between evaluations, number of evaluations, eval episodes
    "cartpole": {"preset": "cartpole", "env": "cartpole", "chunk": 10, "chunks": 6, "episodes": 64},
    "Ant-v5": {"preset": "mujoco", "env": "gym:Ant-v5", "chunk": 25, "chunks": 4, "episodes": 8},
}


def _mirror_actions(task: str) -> Callable[[torch.Tensor], torch.Tensor]:
    func = SYMMETRY_FUNCTIONS[task]

    def mirror(actions: torch.Tensor) -> torch.Tensor:
        out = func(actions=actions)[1]
        return out[actions.shape[0] :]

    return mirror


def _mirror_obs(task: str) -> Callable[[torch.Tensor], torch.Tensor]:
    func = SYMMETRY_FUNCTIONS[task]

    def mirror(obs: torch.Tensor) -> torch.Tensor:
        out = func(obs=TensorDict({"policy": obs}, batch_size=[obs.shape[0]]))[0]
        return out["policy"][obs.shape[0] :]

    return mirror


@torch.no_grad()
def asymmetry(policy: Callable[[TensorDict], torch.Tensor], states: torch.Tensor, task: str) -> dict[str, float]:
    """Mean ``‖μ(M s) − M μ(s)‖₂`` over ``states`` and its ratio to the mean ``‖μ(s)‖₂``."""
    mirror_obs, mirror_actions = _mirror_obs(task), _mirror_actions(task)
    mean = policy(TensorDict({"policy": states}, batch_size=[states.shape[0]]))
    mean_m = policy(TensorDict({"policy": mirror_obs(states)}, batch_size=[states.shape[0]]))
    gap = (mean_m - mirror_actions(mean)).norm(dim=-1).mean().item()
    scale = mean.norm(dim=-1).mean().item()
    return {"abs": gap, "rel": gap / max(scale, 1e-12)}


def cartpole_states(num: int = 4096, seed: int = 12345) -> torch.Tensor:
    """Uniform states inside cart-pole's termination bounds (|x| < 2.4, |θ| < 12°), speeds within ±2."""
    gen = torch.Generator().manual_seed(seed)
    bounds = torch.tensor([2.4, 2.0, 0.2094, 2.0])
    return (torch.rand(num, 4, generator=gen) * 2 - 1) * bounds


def random_rollout_states(env_name: str, num_steps: int = 400, seed: int = 777) -> torch.Tensor:
    """Observations of a uniform-random-action rollout (8 envs) with a fixed seed."""
    env = make_task(env_name, num_envs=8, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    states = [env.get_observations()["policy"].clone()]
    for _ in range(num_steps):
        actions = torch.rand(env.num_envs, env.num_actions, generator=gen) * 2 - 1
        obs, _, _, _ = env.step(actions)
        states.append(obs["policy"].clone())
    close = getattr(env, "close", None)
    if callable(close):
        close()
    return torch.cat(states)


def run(task: str, condition: str, seed: int, out: str, chunks: int | None = None) -> dict[str, Any]:
    """Train one (task, condition, seed), evaluating every ``chunk`` iterations; writes ``<out>/<name>.json``."""
    spec = dict(TASKS[task])
    if chunks is not None:
        spec["chunks"] = chunks
    preset = preset_path(spec["preset"])
    if preset is None:
        raise FileNotFoundError(f"stride/configs/{spec['preset']}.yaml is missing")
    experiment = load_yaml(preset)
    cfg = copy.deepcopy(experiment["runner"])
    cfg["seed"] = seed
    symmetry = CONDITIONS[condition]
    if symmetry is not None:
        cfg["algorithm"]["symmetry_cfg"] = {**symmetry, "data_augmentation_func": task}
    num_envs = int(experiment["env"]["num_envs"])
    env = make_task(spec["env"], num_envs=num_envs, seed=seed)
    runner = OnPolicyRunner(env, cfg, log_dir=None)
    held_out = cartpole_states() if task == "cartpole" else random_rollout_states(spec["env"])
    curve: list[dict[str, Any]] = []
    train_seconds = 0.0
    for chunk in range(spec["chunks"]):
        start = time.perf_counter()
        runner.learn(spec["chunk"])
        train_seconds += time.perf_counter() - start
        policy = runner.get_inference_policy()
        visited: list[torch.Tensor] = []

        def recording(obs: TensorDict, policy: Any = policy, visited: list[torch.Tensor] = visited) -> torch.Tensor:
            visited.append(obs["policy"].clone())
            return policy(obs)

        eval_env = make_task(spec["env"], num_envs=min(spec["episodes"], 64), seed=10_000 + 100 * seed + chunk)
        result = evaluate_policy(eval_env, recording, num_episodes=spec["episodes"])
        close = getattr(eval_env, "close", None)
        if callable(close):
            close()
        point = {
            "iterations": runner.current_learning_iteration,
            "env_steps": runner.total_env_steps,
            "return": result.mean_return,
            "asymmetry_held_out": asymmetry(policy, held_out, task),
            "asymmetry_policy_states": asymmetry(policy, torch.cat(visited), task),
        }
        curve.append(point)
        print(json.dumps({"task": task, "condition": condition, "seed": seed, **point}), flush=True)
    close = getattr(env, "close", None)
    if callable(close):
        close()
    record = {
        "task": task,
        "condition": condition,
        "seed": seed,
        "train_seconds": train_seconds,
        "curve": curve,
        "final": curve[-1],
        "hardware": hardware_info("cpu"),
        "torch_threads": torch.get_num_threads(),
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{task}_{condition}_seed{seed}.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
    return record


def report(out: str) -> str:
    """Markdown tables (per task: final and intermediate returns, asymmetry) from the JSON files in ``out``."""
    records = []
    for path in sorted(glob.glob(os.path.join(out, "*.json"))):
        with open(path, encoding="utf-8") as handle:
            records.append(json.load(handle))
    lines: list[str] = []
    for task in TASKS:
        rows = []
        for condition in CONDITIONS:
            runs = [r for r in records if r["task"] == task and r["condition"] == condition]
            if not runs:
                continue
            points = range(len(runs[0]["curve"]))
            returns = [fmt_mean_std([r["curve"][i]["return"] for r in runs]) for i in points]
            final = [r["final"] for r in runs]
            rows.append(
                [
                    condition,
                    len(runs),
                    " / ".join(returns),
                    fmt_mean_std([f["asymmetry_held_out"]["abs"] for f in final], 3),
                    fmt_mean_std([f["asymmetry_held_out"]["rel"] for f in final], 3),
                    fmt_mean_std([f["asymmetry_policy_states"]["abs"] for f in final], 3),
                    fmt_mean_std([r["train_seconds"] for r in runs], 0),
                ]
            )
        if not rows:
            continue
        sample = next(r for r in records if r["task"] == task)
        at = ", ".join(f"{p['iterations']} it ({p['env_steps'] / 1000:.0f}k)" for p in sample["curve"])
        lines.append(f"### {task}\n\nDeterministic return at {at}; asymmetry of the final policy.\n")
        header = [
            "condition",
            "seeds",
            "return (mean ± std over seeds)",
            "asym. held-out ‖·‖",
            "asym. held-out rel.",
            "asym. own states ‖·‖",
            "train s",
        ]
        lines.append(markdown_table(header, rows))
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Command line: ``run`` or ``report``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run")
    run_p.add_argument("--task", choices=sorted(TASKS), required=True)
    run_p.add_argument("--conditions", nargs="+", choices=sorted(CONDITIONS), default=list(CONDITIONS))
    run_p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    run_p.add_argument("--out", required=True)
    run_p.add_argument("--chunks", type=int, default=None, help="evaluations (budget = chunks × chunk iterations)")
    rep_p = sub.add_parser("report")
    rep_p.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "run":
        for seed in args.seeds:
            for condition in args.conditions:
                run(args.task, condition, seed, args.out, args.chunks)
    else:
        print(report(args.out))


if __name__ == "__main__":
    main()
