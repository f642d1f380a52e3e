"""Twin Delayed DDPG for massively parallel envs (the FastTD3 recipe as options).

Reference:
    Fujimoto et al. "Addressing Function Approximation Error in Actor-Critic Methods." ICML 2018.
    Seo et al. "FastTD3: Simple, Fast, and Capable Reinforcement Learning for Humanoid Control." arXiv:2505.22642.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from stride.algorithms.off_policy import OffPolicyAlgorithm
from stride.algorithms.off_policy_targets import polyak_update
from stride.config.off_policy import TD3Cfg
from stride.extensions.base import Extension
from stride.models.mlp_model import Observations
from stride.models.q_model import QModel
from stride.models.tanh_actor import TanhActor
from stride.storage.replay_buffer import ReplayBatch, ReplayBuffer

__all__ = ["TD3", "smoothed_target_actions"]


def smoothed_target_actions(
    actions: torch.Tensor, noise_std: float, noise_clip: float, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """Target policy smoothing: a' = clip(μ'(s') + clip(σ·ξ, −c, c), −1, 1), ξ ~ N(0, I). Shape as ``actions``.

    ``noise`` is ξ drawn by the caller (a compiled update draws it outside the graph); None draws it here.
    """
    xi = torch.randn_like(actions) if noise is None else noise
    return (actions + (xi * noise_std).clamp(-noise_clip, noise_clip)).clamp(-1.0, 1.0)


class TD3(OffPolicyAlgorithm):
    """Twin Delayed DDPG over the shared off-policy machinery.

    A deterministic tanh actor with Gaussian exploration noise, clipped double-Q targets (scalar or C51), target
    policy smoothing, delayed actor and target-actor updates, n-step returns.

    Args:
        actor: Deterministic tanh actor.
        critic: The Q model.
        buffer: Replay buffer.
        cfg: TD3 settings.
        num_steps_per_env: Env steps per iteration.
        device: Where models and buffer live.
        extensions: Hooks on replay batches and the actor's loss (symmetry).
    """

    cfg_class: ClassVar[type[TD3Cfg]] = TD3Cfg
    stochastic_actor: ClassVar[bool] = False
    # loss_keys and stat_keys: the base class's (critic and actor losses, q_mean)

    def __init__(
        self,
        actor: TanhActor,
        critic: QModel,
        buffer: ReplayBuffer,
        cfg: TD3Cfg,
        num_steps_per_env: int,
        device: str | torch.device = "cpu",
        extensions: Sequence[Extension] = (),
    ) -> None:
        super().__init__(actor, critic, buffer, cfg, num_steps_per_env, device, extensions)
        self.td3_cfg = cfg
        # the target actor copies the MLP; it reads observations through the online normalizer
        self.actor_target: nn.Module = copy.deepcopy(self.actor.mlp).requires_grad_(False)

    def _explore_actions(self, obs: Observations, noise: torch.Tensor) -> torch.Tensor:
        """A = clip(tanh(μ(s)) + σ_explore·ξ, −1, 1), ξ ~ N(0, I) (``noise``)."""
        actions = self.actor.act_deterministic(obs)
        return (actions + noise * self.td3_cfg.exploration_noise_std).clamp(-1.0, 1.0)

    def _target_actions(self, obs: Observations) -> torch.Tensor:
        """μ'(s') = tanh(target MLP(normalized s')). Shape: (B, A)."""
        return torch.tanh(self.actor_target(self.actor.latent(obs)))

    def _critic_objective(
        self, batch: ReplayBatch, noise: torch.Tensor, alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.td3_cfg
        # y = G + γ^m · min_e Q'_e(s', a'), a' = smoothed μ'(s')
        with torch.no_grad(), self._autocast():
            next_actions = self._target_actions(batch.next_observations).float()
        next_actions = smoothed_target_actions(next_actions, cfg.target_policy_noise, cfg.target_noise_clip, noise)
        target = self._critic_target(batch, next_actions, None)
        return self._critic_loss(batch, target)

    def _actor_objective(
        self, obs: Observations, noise: torch.Tensor | None, alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        # L_μ = −E[Q_1(s, μ(s))] (the first member, as in TD3)
        with self._autocast():
            actions = self.actor.act_deterministic(obs).float()
        return -self._actor_q(obs, actions)[0].mean(), None, actions

    def _update_step(self, batch: ReplayBatch, num_original: int) -> tuple[torch.Tensor, list[bool], torch.Tensor]:
        cfg = self.td3_cfg
        # critic: y = G + γ^m · min_e Q'_e(s', a'), L_Q = Σ_e mean (Q_e(s, a) − y)²
        critic_loss, q_mean = self._critic_call(batch, self._noise(batch.actions.shape[0]), None)
        critic_bad = self._critic_step(critic_loss)
        critic_loss = critic_loss.detach()
        # actor every policy_delay critic steps
        if self._actor_due():
            actor_loss, _, actions = self._actor_forward(batch.observations, None, None)
            actor_bad = self._actor_step(batch, actor_loss, actions, num_original)
            polyak_update(self.actor_target.parameters(), self.actor.mlp.parameters(), cfg.tau)
            values = torch.stack([critic_loss, actor_loss.detach(), q_mean])
            return values, [True, True, True], torch.stack([critic_bad, actor_bad])
        values = torch.stack([critic_loss, torch.zeros_like(critic_loss), q_mean])
        return values, [True, False, True], torch.stack([critic_bad, torch.zeros_like(critic_bad)])

    def _actor_due(self) -> bool:
        """Every ``policy_delay``-th critic step (``num_updates`` counts the critic steps before this one)."""
        return self.num_updates % self.td3_cfg.policy_delay == 0

    def _extra_models(self) -> dict[str, tuple[str, nn.Module]]:
        return {**super()._extra_models(), "actor_target_state_dict": ("actor", self.actor_target)}
