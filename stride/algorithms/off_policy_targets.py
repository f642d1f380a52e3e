"""Pure functions of the off-policy learners: the C51 projection and the Polyak target update.

Reference:
    Bellemare et al. "A Distributional Perspective on Reinforcement Learning." ICML 2017 (Algorithm 1).
    Lillicrap et al. "Continuous control with deep reinforcement learning." ICLR 2016 (soft target updates).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["categorical_projection", "polyak_update"]


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
