"""Reward scaling by the running standard deviation of the discounted return (SB3 VecNormalize's ``norm_reward``).

Reference:
    Engstrom et al. (2020), "Implementation Matters in Deep Policy Gradients: A Case Study on PPO and TRPO", §3
    ("reward scaling").
"""

from __future__ import annotations

import torch
from torch import nn

from stride.modules.normalization import EmpiricalNormalization
from stride.modules.pending_moments import PendingMoments
from stride.utils.errors import ConfigError

__all__ = ["RewardScaler"]


class RewardScaler(nn.Module):
    """Divide each reward by the running std of the per-env discounted return, then clip.

    Each env keeps a discounted return ``R ← γ R + r`` (reset to 0 when its episode ends, after the step that
    ends it); every step's ``R`` of every env joins running statistics, and the reward is divided by their
    standard deviation: ``r / sqrt(var(R) + eps)``, clipped to ``[-clip, clip]``. The mean is not subtracted, so
    the sign of every reward is kept. The critic then learns returns in these units.

    The statistics (``stats``, an :class:`EmpiricalNormalization` with D = 1) are saved in state dicts; the per-env
    returns are not (a resumed run starts them at 0, as a fresh rollout would).

    Under torchrun each step's returns go into this rank's pending moments without communication, and
    :meth:`sync` (PPO calls it once per iteration, after the update) merges every rank's pending moments into
    ``stats`` in one all-gather: the rewards of an iteration are scaled by the statistics of every rank's steps up to
    the iteration's start. In one process every step enters ``stats`` at once and :meth:`sync` does nothing.

    Shape:
        Rewards and dones ``(num_envs,)``.
    """

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, eps: float = 1e-8) -> None:
        """Create empty statistics (scale 1 until the first step) and zero returns.

        Args:
            num_envs: Number of envs stepped together, ``> 0``.
            gamma: Discount of the return whose std scales the rewards, in (0, 1].
            clip: Scaled rewards are clipped to ``[-clip, clip]``, ``> 0``.
            eps: Added to the variance under the square root, ``> 0``.

        Raises:
            ConfigError: If an argument is out of range.
        """
        super().__init__()
        if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs <= 0:
            raise ConfigError(f"RewardScaler num_envs must be a positive int, got {num_envs!r}.")
        if not 0.0 < gamma <= 1.0:
            raise ConfigError(f"RewardScaler gamma must be in (0, 1], got {gamma!r}; use algorithm.gamma.")
        if not clip > 0.0 or not eps > 0.0:
            raise ConfigError(f"RewardScaler clip and eps must be > 0, got clip={clip!r}, eps={eps!r}.")
        self.gamma = float(gamma)
        self.clip = float(clip)
        self.eps = float(eps)
        self.stats = EmpiricalNormalization(1, eps=0.0)
        self._pending = PendingMoments()
        self._returns: torch.Tensor
        self.register_buffer("_returns", torch.zeros(num_envs), persistent=False)

    @property
    def scale(self) -> torch.Tensor:
        """The current divisor ``sqrt(var(R) + eps)`` as a 0-d tensor."""
        # sqrt(var(R) + eps), var the population variance of every R seen
        return (self.stats.std.reshape(()).square() + self.eps).sqrt()

    @torch.no_grad()
    def forward(self, rewards: torch.Tensor, dones: torch.Tensor) -> torch.Tensor:
        """Update the returns and statistics with one step and return the scaled rewards.

        Args:
            rewards: Raw rewards of the step. Shape: (num_envs,).
            dones: Episode ends (terminations and time-outs) of the step. Shape: (num_envs,).

        Returns:
            ``clip(r / sqrt(var(R) + eps), -clip, clip)``, with the statistics including this step (under torchrun:
            the statistics of the last :meth:`sync`). Shape: (num_envs,).
        """
        # R_t = γ R_{t-1} + r_t, then the statistics absorb R_t (as SB3's VecNormalize)
        self._returns.mul_(self.gamma).add_(rewards)
        # one process: into the statistics now; torchrun: this rank's moments, merged across ranks by sync()
        self._pending.defer(self.stats, self._returns.unsqueeze(-1))
        scaled = (rewards / self.scale).clamp(-self.clip, self.clip)
        # a finished episode's return restarts at 0 for the next step
        self._returns.mul_(1.0 - dones.to(self._returns.dtype))
        return scaled

    @torch.no_grad()
    def sync(self) -> None:
        """Merge every rank's returns since the last call into ``stats`` (one all-gather); nothing in one process.

        Every rank must call it at the same point (PPO: after each update). ``stats`` is bit-identical on every rank
        afterwards.
        """
        self._pending.merge_into(self.stats)
