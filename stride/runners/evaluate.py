"""Deterministic evaluation of a policy over whole episodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from tensordict import TensorDict

from stride.env.vec_env import VecEnv
from stride.utils.errors import ConfigError

__all__ = ["EvaluationResult", "evaluate_policy"]


@dataclass(frozen=True)
class EvaluationResult:
    """Statistics of the first ``num_episodes`` complete episodes."""

    mean_return: float
    std_return: float
    mean_length: float
    std_length: float
    num_episodes: int
    returns: list[float]


@torch.inference_mode()
def evaluate_policy(
    env: VecEnv,
    policy: Callable[[TensorDict], torch.Tensor],
    num_episodes: int,
    max_steps: int | None = None,
    reset_policy: Callable[[torch.Tensor], None] | None = None,
) -> EvaluationResult:
    """Run ``policy`` until ``num_episodes`` episodes have ended and report their returns and lengths.

    Episodes already in progress when evaluation starts are not counted: only episodes that start during the
    evaluation are, so every counted episode is complete. The env is stepped as it is (call this on a fresh env
    for reproducible numbers).

    Args:
        env: The environment.
        policy: Maps observations to actions (e.g. ``runner.get_inference_policy()``).
        num_episodes: Number of complete episodes to collect (>= 1).
        max_steps: Step budget; default: enough for every env to finish ``ceil(num_episodes / num_envs) + 1``
            episodes at the time limit.
        reset_policy: Called with the dones after every step. Default: a recurrent policy (``is_recurrent``) is
            reset once before the first step (its state may hold another batch size) and then with the dones.

    Returns:
        The statistics; ``num_episodes`` may be smaller than asked if the step budget ran out.

    Raises:
        ConfigError: If ``num_episodes`` < 1.
    """
    if num_episodes < 1:
        raise ConfigError(f"num_episodes must be >= 1, got {num_episodes}.")
    num_envs = env.num_envs
    horizon = int(torch.as_tensor(env.max_episode_length).max())
    if max_steps is None:
        max_steps = (num_episodes // num_envs + 2) * horizon + 1
    device = env.get_observations().device
    ep_return = torch.zeros(num_envs, device=device)
    ep_length = torch.zeros(num_envs, device=device)
    counted = torch.zeros(num_envs, dtype=torch.bool, device=device)  # env has started a fresh episode
    returns: list[float] = []
    lengths: list[float] = []
    if reset_policy is None and getattr(policy, "is_recurrent", False):
        reset = policy.reset  # type: ignore[attr-defined]
        reset()
        reset_policy = reset
    obs = env.get_observations()
    for _ in range(max_steps):
        obs, rewards, dones, _extras = env.step(policy(obs))
        if reset_policy is not None:
            reset_policy(dones)
        dones = dones.to(device=device, dtype=torch.bool)
        ep_return += rewards.to(device)
        ep_length += 1.0
        finished = dones & counted
        if bool(finished.any()):
            returns += ep_return[finished].tolist()
            lengths += ep_length[finished].tolist()
        counted |= dones
        ep_return.masked_fill_(dones, 0.0)
        ep_length.masked_fill_(dones, 0.0)
        if len(returns) >= num_episodes:
            break
    returns, lengths = returns[:num_episodes], lengths[:num_episodes]
    r = torch.tensor(returns or [float("nan")], dtype=torch.float64)
    n = torch.tensor(lengths or [float("nan")], dtype=torch.float64)
    return EvaluationResult(
        mean_return=float(r.mean()),
        std_return=float(r.std(unbiased=False)),
        mean_length=float(n.mean()),
        std_length=float(n.std(unbiased=False)),
        num_episodes=len(returns),
        returns=returns,
    )
