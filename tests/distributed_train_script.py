"""A training script as a user writes it, launched by the multi-process tests under torchrun.

Each rank trains the built-in cartpole with its own run directory argument (``<run_root>/rank<r>``: the test then
sees that only rank 0 wrote anything), then writes its synchronized state to ``<out>/<name>_rank<r>.pt``:

1. PPO with observation and value normalization, RND and symmetry (``ppo``);
2. every rank loads rank 0's checkpoint into a fresh runner (``resumed``);
3. a student distilled from that PPO actor (``distill``);
4. PPO with GRU actor and critic and symmetry (``gru``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch
from distributed_workers import SYMMETRY  # the script's folder, tests/, is on sys.path
from torch import distributed as dist

from stride.env.tasks import make_task
from stride.runners import DistillationRunner, OnPolicyRunner
from stride.utils.checkpoint import latest_checkpoint

ITERATIONS = 3


def _model(kind: str) -> dict[str, Any]:
    model: dict[str, Any] = {"hidden_dims": [16, 16], "obs_normalization": True}
    if kind == "gru":
        model.update({"class_name": "RNNModel", "rnn_type": "gru", "rnn_hidden_dim": 8})
    return model


def ppo_cfg(kind: str) -> dict[str, Any]:
    algorithm: dict[str, Any] = {
        "num_learning_epochs": 2,
        "num_mini_batches": 2,
        "desired_kl": 0.002,
        "value_normalization": True,
        "symmetry_cfg": SYMMETRY,
    }
    if kind == "mlp":
        algorithm["rnd_cfg"] = {
            "num_outputs": 4,
            "predictor_hidden_dims": [16],
            "target_hidden_dims": [16],
            "state_normalization": True,
            "reward_normalization": True,  # updated every env step: one collective per step
        }
    return {
        "num_steps_per_env": 8,
        "save_interval": 2,
        "seed": 7,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"], "rnd_state": ["policy"]},
        "algorithm": algorithm,
        "actor": {**_model(kind), "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
        "critic": _model(kind),
    }


def distill_cfg() -> dict[str, Any]:
    return {
        "num_steps_per_env": 8,
        "seed": 7,
        "obs_groups": {"student": ["policy"], "teacher": ["policy"]},
        "algorithm": {"class_name": "Distillation", "num_learning_epochs": 2, "gradient_length": 4},
        "student": {"hidden_dims": [16], "obs_normalization": True},
        "teacher": {**_model("mlp"), "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
    }


def state_of(runner: Any) -> dict[str, torch.Tensor]:
    """Every tensor all ranks must agree on: models, normalizers, extensions, optimizer, learning rate."""
    state = runner.alg.state_dict()
    out: dict[str, torch.Tensor] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            out[prefix] = value.detach().clone()
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix] = torch.tensor(float(value), dtype=torch.float64)

    for key, value in state.items():
        # per-env states (recurrent states, RND's discounted returns) belong to each rank's own envs
        if key not in ("recurrent_state", "distillation_state"):
            walk(key, value)
    return {k: v for k, v in out.items() if "discounted_return" not in k}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-root", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    run_dir = os.path.join(args.run_root, f"rank{rank}")

    def save(name: str, runner: Any) -> None:
        torch.save(state_of(runner), os.path.join(args.out, f"{name}_rank{rank}.pt"))

    env = make_task("cartpole", num_envs=16, seed=7 + rank)
    runner = OnPolicyRunner(env, ppo_cfg("mlp"), log_dir=run_dir, device="cpu")
    runner.learn(ITERATIONS)
    save("ppo", runner)
    dist.barrier()  # rank 0's final checkpoint is on disk
    checkpoint = latest_checkpoint(os.path.join(args.run_root, "rank0"))
    if checkpoint is None:
        raise RuntimeError("rank 0 wrote no checkpoint")
    resumed = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=70 + rank), ppo_cfg("mlp"), device="cpu")
    resumed.load(checkpoint)
    save("resumed", resumed)

    student = DistillationRunner(make_task("cartpole", num_envs=16, seed=7 + rank), distill_cfg(), device="cpu")
    student.load(checkpoint)  # the PPO actor becomes the teacher
    student.learn(2)
    save("distill", student)

    gru = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=7 + rank), ppo_cfg("gru"), device="cpu")
    gru.learn(2)
    save("gru", gru)


if __name__ == "__main__":
    main()
