"""Train stride through real mjlab: its task, simulator (MuJoCo Warp on the CPU), env wrapper, runner and config.

Run by ``tests/integration/test_mjlab_real.py`` in its own process (the runner swap below edits ``sys.modules``):
``python train_real.py TASK LOG_DIR OUT_JSON``. What it does is what mjlab's ``scripts/train.py`` does, at a tiny
scale, after the one-line change an mjlab user makes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import stride.runners

# the user's one-line change: mjlab/rl/runner.py's ``from rsl_rl.runners import OnPolicyRunner`` gets stride's
sys.modules["rsl_rl.runners"] = stride.runners

import torch  # noqa: E402
from mjlab.envs import ManagerBasedRlEnv  # noqa: E402
from mjlab.rl import MjlabOnPolicyRunner, RslRlVecEnvWrapper  # noqa: E402
from mjlab.tasks.registry import load_env_cfg, load_rl_cfg, load_runner_cls  # noqa: E402


def main(task: str, log_dir: str, out: str) -> None:
    env_cfg = load_env_cfg(task)
    env_cfg.scene.num_envs = 8
    agent = load_rl_cfg(task)
    agent.num_steps_per_env = 8
    agent.logger = "tensorboard"  # mjlab's default is W&B
    agent.save_interval = 1
    env = RslRlVecEnvWrapper(ManagerBasedRlEnv(cfg=env_cfg, device="cpu"), clip_actions=agent.clip_actions)
    runner_cls = load_runner_cls(task) or MjlabOnPolicyRunner
    runner = runner_cls(env, dataclasses.asdict(agent), log_dir, "cpu")
    before = torch.cat([p.detach().flatten() for p in runner.alg.actor.parameters()])
    runner.learn(num_learning_iterations=2, init_at_random_ep_len=True)
    after = torch.cat([p.detach().flatten() for p in runner.alg.actor.parameters()])
    obs = env.get_observations()
    result = {
        "runner_mro": [f"{c.__module__}.{c.__qualname__}" for c in type(runner).__mro__],
        "iteration": runner.current_learning_iteration,
        "groups": {key: list(value.shape) for key, value in obs.items()},
        "num_actions": env.num_actions,
        "params_changed": not torch.equal(before, after),
        "params_finite": bool(torch.isfinite(after).all()),
        "max_episode_length": int(env.max_episode_length),
    }
    rows = [json.loads(line) for line in Path(log_dir, "metrics.jsonl").read_text().splitlines()]
    result["metrics_rows"] = len(rows)
    result["losses_finite"] = all(math.isfinite(row["Loss/value"]) for row in rows)
    result["files"] = sorted(path.name for path in Path(log_dir).iterdir())
    # play, as mjlab's play script does: a new runner loads the checkpoint and its inference policy steps the env
    player = runner_cls(env, dataclasses.asdict(agent), None, "cpu")
    player.load(str(Path(log_dir, "model_1.pt")))
    policy = player.get_inference_policy(device="cpu")
    actions = policy(env.get_observations())
    _, rewards, _, _ = env.step(actions)
    result["play_actions"] = list(actions.shape)
    result["play_rewards_finite"] = bool(torch.isfinite(rewards).all())
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:4])
