"""Return and advantage estimation as pure tensor functions.

Reference:
    Schulman et al. "High-Dimensional Continuous Control Using Generalized Advantage Estimation." ICLR 2016.
"""

from __future__ import annotations

import torch

__all__ = ["bootstrap_time_outs", "compute_gae", "normalize_advantages"]


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over a rollout.

    A done at step t (termination, or a truncation whose bootstrap is already folded into ``rewards[t]``) cuts the
    recursion: nothing after t flows back into t.

    Args:
        rewards: Rewards r_t. Shape: (T, N).
        values: Critic values V(s_t) recorded during the rollout. Shape: (T, N).
        dones: 1 where the episode ended at step t, else 0 (bool or float). Shape: (T, N).
        last_values: V(s_T) of the observation after the last step. Shape: (N,).
        gamma: Discount γ.
        lam: GAE λ.

    Returns:
        ``(returns, advantages)``, each of shape (T, N).
    """
    num_steps = rewards.shape[0]
    done = dones.to(torch.bool)
    advantages = torch.empty_like(rewards)
    gae = torch.zeros_like(last_values)
    next_values = last_values
    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(num_steps)):
        # masked with where, not a product, so a non-finite value behind a done cannot leak (0·NaN = NaN)
        next_v = torch.where(done[t], zero, next_values)
        # δ_t = r_t + γ·(1 − d_t)·V(s_{t+1}) − V(s_t)
        delta = rewards[t] + gamma * next_v - values[t]
        # A_t = δ_t + γ·λ·(1 − d_t)·A_{t+1}
        gae = delta + gamma * lam * torch.where(done[t], zero, gae)
        advantages[t] = gae
        next_values = values[t]
    # R_t = A_t + V(s_t): the λ-return the critic regresses to
    returns = advantages + values
    return returns, advantages


def bootstrap_time_outs(
    rewards: torch.Tensor, time_outs: torch.Tensor, bootstrap_values: torch.Tensor, gamma: float
) -> torch.Tensor:
    """Fold the value of a truncated episode's cut-off future into its last reward.

    Args:
        rewards: Rewards of one step. Shape: (N,).
        time_outs: 1 where the episode was truncated (not terminated) at this step. Shape: (N,).
        bootstrap_values: V(final obs) when the env provides ``final_obs``, else V(s_t) (rsl_rl's rule). Shape: (N,).
        gamma: Discount γ.

    Returns:
        r_t + γ·V·timeout_t. Shape: (N,).
    """
    # r_t ← r_t + γ·V(s_{t+1}^final)·1[truncated]; where() keeps non-finite values of other envs out
    return torch.where(time_outs.to(torch.bool), rewards + gamma * bootstrap_values, rewards)


def normalize_advantages(
    advantages: torch.Tensor, eps: float = 1e-8, moments: tuple[torch.Tensor, torch.Tensor] | None = None
) -> torch.Tensor:
    """Zero-mean, unit-std advantages; a single sample (std undefined) only gets centred.

    Args:
        advantages: Any shape.
        eps: Added to the std.
        moments: ``(mean, std)`` to use instead of the advantages' own (e.g. over every rank of a multi-process
            run); None computes them from ``advantages``.

    Returns:
        (A − mean) / (std + eps), same shape.
    """
    if moments is not None:
        mean, std = moments
        # Â = (A − μ_A) / (σ_A + ε) with the given μ_A, σ_A
        return (advantages - mean) / (std + eps)
    if advantages.numel() < 2:
        return advantages - advantages.mean()
    # Â = (A − μ_A) / (σ_A + ε)
    return (advantages - advantages.mean()) / (advantages.std() + eps)
