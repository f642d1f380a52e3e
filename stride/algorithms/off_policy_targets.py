"""Pure functions of the off-policy learners: critic targets and losses, the C51 projection, the Polyak update.

Reference:
    Fujimoto et al. "Addressing Function Approximation Error in Actor-Critic Methods." ICML 2018 (clipped double Q).
    Bellemare et al. "A Distributional Perspective on Reinforcement Learning." ICML 2017 (Algorithm 1).
    Lillicrap et al. "Continuous control with deep reinforcement learning." ICLR 2016 (soft target updates).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

__all__ = [
    "categorical_projection",
    "clipped_categorical_target",
    "clipped_double_q_target",
    "ensemble_critic_loss",
    "polyak_update",
]


def clipped_double_q_target(
    next_q: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor, bonus: torch.Tensor
) -> torch.Tensor:
    """The scalar critic's target y = G + γ^m·(min_e Q'_e(s', a') + bonus).

    Args:
        next_q: Every target member's Q'_e(s', a'). Shape: (E, B).
        returns: The n-step discounted reward sums G. Shape: (B,).
        discounts: γ^m, 0 after a termination. Shape: (B,).
        bonus: Added to the bootstrap value (SAC's −α·log π(a'|s'); zeros for TD3). Shape: (B,).

    Returns:
        y. Shape: (B,).
    """
    # y = G + γ^m · (min_e Q'_e(s', a') + bonus)
    return returns + discounts * (next_q.min(dim=0).values + bonus)


def clipped_categorical_target(
    next_logits: torch.Tensor,
    support: torch.Tensor,
    returns: torch.Tensor,
    discounts: torch.Tensor,
    bonus: torch.Tensor,
    v_min: float,
    v_max: float,
) -> torch.Tensor:
    """The C51 critic's target: the member with the lowest expected value, shifted and projected onto the support.

    The distributional form of clipped double Q: the target atoms G + γ^m·(z_j + bonus) carry the probabilities of
    the member whose expected value Σ_j p_j z_j is lowest.

    Args:
        next_logits: Every target member's logits at (s', a'). Shape: (E, B, K).
        support: The atoms z_j. Shape: (K,).
        returns: The n-step discounted reward sums G. Shape: (B,).
        discounts: γ^m, 0 after a termination. Shape: (B,).
        bonus: Added to every atom (SAC's −α·log π(a'|s'); zeros for TD3). Shape: (B,).
        v_min: First support point.
        v_max: Last support point.

    Returns:
        Target probabilities on the support. Shape: (B, K).
    """
    probs = torch.softmax(next_logits, dim=-1)  # (E, B, K)
    expected = (probs * support).sum(-1)  # (E, B)
    lowest = expected.argmin(dim=0)  # (B,)
    chosen = probs.gather(0, lowest.view(1, -1, 1).expand(1, *probs.shape[1:])).squeeze(0)
    # T z_j = G + γ^m · (z_j + bonus)
    atoms = returns.unsqueeze(-1) + discounts.unsqueeze(-1) * (support + bonus.unsqueeze(-1))
    return categorical_projection(atoms, chosen, v_min, v_max)


def ensemble_critic_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ_e of each member's loss: MSE to y (scalar critic) or cross-entropy to the projected target (C51).

    Args:
        out: Every member's output at (s, a): Q values (shape (E, B, 1)) or logits (shape (E, B, K), K > 1).
        target: y (shape (B,)) or target probabilities (shape (B, K)).

    Returns:
        The loss (0-d).
    """
    if out.shape[-1] == 1:
        # L = Σ_e mean_b (Q_e(s, a) − y)²
        return (out.squeeze(-1) - target).square().mean(dim=1).sum()
    # L = Σ_e mean_b −Σ_j p_j log softmax(logits_e)_j
    return -(target * F.log_softmax(out, dim=-1)).sum(-1).mean(dim=1).sum()


def categorical_projection(atoms: torch.Tensor, probs: torch.Tensor, v_min: float, v_max: float) -> torch.Tensor:
    """Project a distribution on arbitrary atom positions onto the fixed support z_j = v_min + j·Δz.

    Each atom's mass goes to its two neighbouring support points in proportion to closeness; atoms outside
    [v_min, v_max] are clamped to the ends first. Total mass is preserved.

    Args:
        atoms: Positions T z_j of the target atoms (e.g. G + γ^m·z_j). Shape: (B, K).
        probs: Their probabilities. Shape: (B, K), rows summing to 1.
        v_min: First support point.
        v_max: Last support point (> v_min).

    Returns:
        Probabilities on the K support points. Shape: (B, K).
    """
    num_atoms = probs.shape[-1]
    delta = (v_max - v_min) / (num_atoms - 1)
    # b_j = (clamp(T z_j, v_min, v_max) − v_min) / Δz ∈ [0, K − 1]
    b = (atoms.clamp(v_min, v_max) - v_min) / delta
    lower = b.floor().clamp(0, num_atoms - 1)
    upper = b.ceil().clamp(0, num_atoms - 1)
    # mass to u = ⌈b⌉ is p·(b − ⌊b⌋), to l = ⌊b⌋ the rest (all of it when b is a support point, l = u)
    to_upper = probs * (b - lower)
    to_lower = probs - to_upper
    out = torch.zeros_like(probs)
    out.scatter_add_(-1, lower.long(), to_lower)
    out.scatter_add_(-1, upper.long(), to_upper)
    return out


@torch.no_grad()
def polyak_update(target: Iterable[torch.Tensor], online: Iterable[torch.Tensor], tau: float) -> None:
    """θ' ← θ' + τ·(θ − θ') = (1 − τ)·θ' + τ·θ, in place, for every pair of tensors (one fused kernel each)."""
    targets, onlines = list(target), list(online)
    torch._foreach_lerp_(targets, onlines, tau)
