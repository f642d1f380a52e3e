"""PPO loss terms and the adaptive learning-rate rule as small pure functions.

Reference:
    Schulman et al. "Proximal Policy Optimization Algorithms." arXiv:1707.06347 (2017).
"""

from __future__ import annotations

import torch

__all__ = ["adaptive_learning_rate", "clipped_surrogate_loss", "value_function_loss"]


def clipped_surrogate_loss(
    log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_param: float
) -> torch.Tensor:
    """Negated clipped surrogate objective, averaged over the batch.

    Args:
        log_prob: log π_θ(a|s) under the current parameters. Shape: (B,).
        old_log_prob: log π_old(a|s) recorded in the rollout. Shape: (B,).
        advantages: Advantage estimates Â. Shape: (B,).
        clip_param: ε.

    Returns:
        Scalar loss: mean(max(−Â·ρ, −Â·clip(ρ, 1−ε, 1+ε))).
    """
    # ρ = π_θ(a|s) / π_old(a|s)
    ratio = torch.exp(log_prob - old_log_prob)
    # L = −min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_param, 1.0 + clip_param)
    return torch.max(unclipped, clipped).mean()


def value_function_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_param: float,
    use_clipped_value_loss: bool,
) -> torch.Tensor:
    """Squared-error value loss, optionally with PPO's value clipping.

    Args:
        values: V_θ(s). Shape: (B,).
        old_values: V(s) recorded in the rollout. Shape: (B,).
        returns: Regression targets R. Shape: (B,).
        clip_param: Clip range of the value change.
        use_clipped_value_loss: Whether to clip.

    Returns:
        Scalar loss.
    """
    if not use_clipped_value_loss:
        # L_V = mean((R − V_θ)²)
        return (returns - values).pow(2).mean()
    # V_clip = V_old + clip(V_θ − V_old, −ε, ε);  L_V = mean(max((V_θ − R)², (V_clip − R)²))
    clipped = old_values + (values - old_values).clamp(-clip_param, clip_param)
    return torch.max((values - returns).pow(2), (clipped - returns).pow(2)).mean()


def adaptive_learning_rate(
    learning_rate: torch.Tensor, kl_mean: torch.Tensor, desired_kl: float, lr_min: float = 1e-5, lr_max: float = 1e-2
) -> torch.Tensor:
    """rsl_rl's KL-adaptive rule, computed on the device (no host sync).

    Args:
        learning_rate: Current learning rate (0-d tensor).
        kl_mean: Mean KL(old || new) over the mini-batch (0-d tensor).
        desired_kl: Target KL.
        lr_min: Floor of the decrease.
        lr_max: Cap of the increase.

    Returns:
        The new learning rate (0-d tensor): KL > 2·d → max(lr/1.5, lr_min); 0 < KL < d/2 → min(lr·1.5, lr_max);
        otherwise unchanged.
    """
    lowered = torch.clamp(learning_rate / 1.5, min=lr_min)
    raised = torch.clamp(learning_rate * 1.5, max=lr_max)
    too_far = kl_mean > 2.0 * desired_kl
    too_close = (kl_mean < 0.5 * desired_kl) & (kl_mean > 0.0)
    return torch.where(too_far, lowered, torch.where(too_close, raised, learning_rate))
