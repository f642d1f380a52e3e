"""Wall-clock of stride SAC / TD3 against Stable-Baselines3 on one Gymnasium MuJoCo task, matched settings.

Both libraries train the same task with the same settings: 1 env, ``--learning-starts`` uniformly random steps,
then one gradient step of a 256-sample batch per env step, actor and twin critics [256, 256] ReLU, Adam at
``--lr`` for every network (SAC's temperature too), γ 0.99, τ 0.005, 1-step returns; SAC: α from 1.0 tuned towards
−|A|; TD3: policy delay 2, target noise 0.2 clipped at 0.5, Gaussian exploration noise 0.1. The figure is env steps
per second over the ``--steps`` steps after the random warm-up (each with its gradient step); setup, warm-up and
the final evaluation are not timed. It is a reduced budget and a speed comparison, not a returns comparison: the
deterministic return after the run is reported only to show that both learners learn.

SB3 is not a stride dependency. It runs from its own virtual environment (the same torch), launched as a
subprocess by ``compare``; stride runs from this repository's environment. The runs go one after the other::

    python3.11 -m venv /work/sb3venv
    /work/sb3venv/bin/pip install torch==2.13.0 stable-baselines3 "gymnasium[mujoco]"
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/sb3_offpolicy.py compare \
        --sb3-python /work/sb3venv/bin/python --algo SAC --steps 20000 --out runs/sb3_offpolicy.jsonl

``run --lib stride|sb3`` runs one side alone (the SB3 side imports only SB3, Gymnasium and torch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

HIDDEN = [256, 256]
"""Hidden widths of the actor and of each critic (SB3's SAC default)."""


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "env": args.env,
        "algo": args.algo,
        "seed": args.seed,
        "learning_starts": args.learning_starts,
        "steps": args.steps,
        "batch_size": 256,
        "lr": args.lr,
        "gamma": 0.99,
        "tau": 0.005,
        "hidden": HIDDEN,
    }


def run_sb3(args: argparse.Namespace) -> dict[str, Any]:
    """Train SB3's SAC or TD3; time the ``steps`` env steps (one gradient step each) after the random warm-up."""
    import gymnasium as gym
    import numpy as np
    import stable_baselines3
    import torch
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.noise import NormalActionNoise

    torch.set_num_threads(1)
    env = gym.make(args.env)
    common = {
        "learning_rate": args.lr,
        "buffer_size": 1_000_000,
        "learning_starts": args.learning_starts,
        "batch_size": 256,
        "tau": 0.005,
        "gamma": 0.99,
        "train_freq": 1,
        "gradient_steps": 1,
        "policy_kwargs": {"net_arch": HIDDEN},
        "seed": args.seed,
        "device": "cpu",
        "verbose": 0,
    }
    if args.algo == "SAC":
        model: Any = SAC("MlpPolicy", env, ent_coef="auto", target_entropy="auto", **common)
    else:
        num_actions = env.action_space.shape[0]  # type: ignore[index]
        noise = NormalActionNoise(np.zeros(num_actions), 0.1 * np.ones(num_actions))
        model = TD3(
            "MlpPolicy",
            env,
            action_noise=noise,
            policy_delay=2,
            target_policy_noise=0.2,
            target_noise_clip=0.5,
            **common,
        )
    # warm-up: learning_starts random steps, no gradient step (SB3 trains once num_timesteps > learning_starts)
    model.learn(total_timesteps=args.learning_starts)
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps, reset_num_timesteps=False)
    seconds = time.perf_counter() - start
    returns, _ = evaluate_policy(model, gym.make(args.env), n_eval_episodes=args.eval_episodes, deterministic=True)
    return {
        "lib": "sb3",
        "version": stable_baselines3.__version__,
        "seconds": seconds,
        "steps_per_s": args.steps / seconds,
        "gradient_steps": int(model._n_updates),
        "eval_return": float(returns),
        "torch": torch.__version__,
    }


def run_stride(args: argparse.Namespace) -> dict[str, Any]:
    """Train stride's SAC or TD3 with the same settings; iterations of ``--chunk`` env steps, then as many updates."""
    import torch

    from stride.env.tasks import make_task
    from stride.runners import OffPolicyRunner
    from stride.runners.evaluate import evaluate_policy

    torch.set_num_threads(1)
    if args.steps % args.chunk or args.learning_starts % args.chunk:
        raise SystemExit("--steps and --learning-starts must be multiples of --chunk")
    algorithm: dict[str, Any] = {
        "class_name": args.algo,
        "batch_size": 256,
        "buffer_size": 1_000_000,
        # + 1: no update at the end of the last warm-up iteration, so the timed part makes exactly `steps` of them
        "learning_starts": args.learning_starts + 1,
        "gamma": 0.99,
        "tau": 0.005,
        "actor_learning_rate": args.lr,
        "critic_learning_rate": args.lr,
        "num_updates_per_step": 1,
        "use_mixed_precision": args.bf16,
    }
    if args.algo == "SAC":
        algorithm.update({"alpha_learning_rate": args.lr, "init_alpha": 1.0})
    else:
        algorithm.update({"policy_delay": 2, "target_policy_noise": 0.2, "target_noise_clip": 0.5})
        algorithm["exploration_noise_std"] = 0.1
    cfg = {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": args.chunk,
        "seed": args.seed,
        "torch_compile_mode": args.compile,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": algorithm,
        "actor": {"hidden_dims": HIDDEN, "activation": "relu"},
        "critic": {"class_name": "QModel", "hidden_dims": HIDDEN, "activation": "relu"},
    }
    runner = OffPolicyRunner(make_task(f"gym:{args.env}", num_envs=1, seed=args.seed), cfg)
    runner.learn(args.learning_starts // args.chunk)
    before = runner.alg.num_updates
    start = time.perf_counter()
    runner.learn(args.steps // args.chunk)
    seconds = time.perf_counter() - start
    eval_env = make_task(f"gym:{args.env}", num_envs=args.eval_episodes, seed=10_000 + args.seed)
    result = evaluate_policy(eval_env, runner.get_inference_policy(), num_episodes=args.eval_episodes)
    return {
        "lib": "stride",
        "seconds": seconds,
        "steps_per_s": args.steps / seconds,
        "gradient_steps": runner.alg.num_updates - before,
        "eval_return": float(result.mean_return),
        "compile": args.compile,
        "bf16": args.bf16,
        "torch": torch.__version__,
    }


def _record(args: argparse.Namespace, result: dict[str, Any]) -> None:
    line = json.dumps({**_settings(args), **result})
    print(line, flush=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def compare(args: argparse.Namespace) -> None:
    """Run SB3 then stride (subprocesses, one after the other) and print both rates and their ratio."""
    here = os.path.abspath(__file__)
    common = [
        "--algo",
        args.algo,
        "--env",
        args.env,
        "--seed",
        str(args.seed),
        "--learning-starts",
        str(args.learning_starts),
        "--steps",
        str(args.steps),
        "--lr",
        str(args.lr),
        "--eval-episodes",
        str(args.eval_episodes),
        "--chunk",
        str(args.chunk),
    ]
    if args.out:
        common += ["--out", args.out]
    results = {}
    for lib, python in (("sb3", args.sb3_python), ("stride", sys.executable)):
        extra = ["--compile", args.compile] if lib == "stride" and args.compile else []
        extra += ["--bf16"] if lib == "stride" and args.bf16 else []
        out = subprocess.run(
            [python, here, "run", "--lib", lib, *common, *extra], check=True, capture_output=True, text=True
        ).stdout
        results[lib] = json.loads(out.strip().splitlines()[-1])
        print(f"{lib}: {results[lib]['steps_per_s']:.1f} env steps/s, return {results[lib]['eval_return']:.0f}")
    print(f"stride / sb3 steps/s: {results['stride']['steps_per_s'] / results['sb3']['steps_per_s']:.2f}")


def main() -> None:
    """Parse the command line: ``run`` one side, or ``compare`` both."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "compare"])
    parser.add_argument("--lib", choices=["stride", "sb3"], default="stride")
    parser.add_argument("--algo", choices=["SAC", "TD3"], default="SAC")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--learning-starts", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=20000, help="timed env steps, each with one gradient step")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--chunk", type=int, default=1000, help="stride: env steps per iteration")
    parser.add_argument("--eval-episodes", type=int, default=4)
    parser.add_argument("--compile", default=None, help="stride: torch_compile_mode")
    parser.add_argument("--bf16", action="store_true", help="stride: use_mixed_precision")
    parser.add_argument("--sb3-python", default="/work/sb3venv/bin/python")
    parser.add_argument("--out", default=None, help="append one JSON line per run to this file")
    args = parser.parse_args()
    if args.command == "compare":
        compare(args)
        return
    _record(args, run_sb3(args) if args.lib == "sb3" else run_stride(args))


if __name__ == "__main__":
    main()
