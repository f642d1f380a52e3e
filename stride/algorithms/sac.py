"""Soft Actor-Critic with an auto-tuned entropy temperature, for massively parallel envs.

Reference:
    Haarnoja et al. "Soft Actor-Critic Algorithms and Applications." arXiv:1812.05905 (2018).
    Seo et al. "Learning Sim-to-Real Humanoid Locomotion in 15 Minutes" (FastSAC), arXiv:2512.01996.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from stride.algorithms.off_policy import OffPolicyAlgorithm
from stride.config.off_policy import SACCfg
from stride.extensions.base import Extension
from stride.models.mlp_model import Observations
from stride.models.q_model import QModel
from stride.models.tanh_actor import TanhActor
from stride.storage.replay_buffer import ReplayBatch, ReplayBuffer
from stride.utils.distributed import all_reduce_gradients
from stride.utils.optim import make_optimizer, step_unless

__all__ = ["SAC", "temperature_loss"]


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """J(α) = E[−α·(log π(a|s) + H̄)], differentiated through log α (α = exp(log α)).

    dJ/d log α = −α·E[log π + H̄]: when the policy's entropy −E[log π] is below H̄ the gradient is negative and
    gradient descent raises α (more exploration); above H̄ it lowers α.

    Args:
        log_alpha: log α, 0-d, requires grad.
        log_prob: log π(a|s) of fresh actions (detached). Shape: (B,).
        target_entropy: H̄.
    """
    return -(log_alpha.exp() * (log_prob.detach() + target_entropy)).mean()


class SAC(OffPolicyAlgorithm):
    """Soft Actor-Critic over the shared off-policy machinery.

    A tanh-squashed Gaussian actor, an ensemble of Q-networks with clipped double-Q targets (scalar or C51), n-step
    returns, a Polyak-averaged target critic and the temperature α tuned towards the target entropy −|A|.

    Args:
        actor: Stochastic tanh actor.
        critic: The Q model.
        buffer: Replay buffer.
        cfg: SAC settings.
        num_steps_per_env: Env steps per iteration.
        device: Where models and buffer live.
        extensions: Hooks on replay batches and the actor's loss (symmetry).
    """

    cfg_class: ClassVar[type[SACCfg]] = SACCfg
    stochastic_actor: ClassVar[bool] = True
    loss_keys: ClassVar[tuple[str, ...]] = ("critic", "actor", "temperature")
    stat_keys: ClassVar[tuple[str, ...]] = ("q_mean", "entropy")

    def __init__(
        self,
        actor: TanhActor,
        critic: QModel,
        buffer: ReplayBuffer,
        cfg: SACCfg,
        num_steps_per_env: int,
        device: str | torch.device = "cpu",
        extensions: Sequence[Extension] = (),
    ) -> None:
        super().__init__(actor, critic, buffer, cfg, num_steps_per_env, device, extensions)
        self.sac_cfg = cfg
        self.target_entropy = float(cfg.target_entropy) if cfg.target_entropy is not None else -float(self.num_actions)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.init_alpha), device=self.device))
        alpha_lr = torch.tensor(cfg.alpha_learning_rate, device=self.device)
        self.alpha_optimizer = make_optimizer(cfg.optimizer, [self.log_alpha], alpha_lr)
        self._learning_rates["alpha_optimizer_state_dict"] = alpha_lr

    def _explore_actions(self, obs: Observations, noise: torch.Tensor) -> torch.Tensor:
        """A = tanh(μ + σ·ε): SAC explores with its own stochastic policy."""
        return self.actor.sample(obs, noise)[0]

    def _critic_objective(
        self, batch: ReplayBatch, noise: torch.Tensor, alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if alpha is None:
            raise TypeError("SAC's critic objective needs α.")
        # y = G + γ^m · (min_e Q'_e(s', a') − α log π(a'|s')), a' ~ π(·|s')
        with torch.no_grad(), self._autocast():
            next_actions, next_log_prob = self.actor.sample(batch.next_observations, noise)
        target = self._critic_target(batch, next_actions.float(), -alpha * next_log_prob.float())
        return self._critic_loss(batch, target)

    def _actor_objective(
        self, obs: Observations, noise: torch.Tensor | None, alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        if alpha is None:
            raise TypeError("SAC's actor objective needs α.")
        # L_π = E[α log π(a|s) − min_e Q_e(s, a)], a ~ π(·|s) reparameterized
        with self._autocast():
            actions, log_prob, mean_actions = self.actor.sample_and_mean(obs, noise)
        log_prob = log_prob.float()
        q = self._actor_q(obs, actions.float()).min(dim=0).values
        return (alpha * log_prob - q).mean(), log_prob, mean_actions.float()

    def _update_step(self, batch: ReplayBatch, num_original: int) -> tuple[torch.Tensor, list[bool], torch.Tensor]:
        alpha = self.log_alpha.detach().exp()
        rows = batch.actions.shape[0]
        # critic: y = G + γ^m · (min_e Q'_e(s', a') − α log π(a'|s')), L_Q = Σ_e mean (Q_e(s, a) − y)²
        critic_loss, q_mean = self._critic_call(batch, self._noise(rows), alpha)
        critic_bad = self._critic_step(critic_loss)
        # actor: L_π = E[α log π(a|s) − min_e Q_e(s, a)]
        actor_loss, maybe_log_prob, mean_actions = self._actor_forward(batch.observations, self._noise(rows), alpha)
        if maybe_log_prob is None:
            raise TypeError("SAC's actor objective must return log π.")
        log_prob = maybe_log_prob
        actor_bad = self._actor_step(batch, actor_loss, mean_actions, num_original)
        # temperature: J(α) = E[−α (log π + H̄)]
        if self.sac_cfg.auto_alpha:
            alpha_loss = temperature_loss(self.log_alpha, log_prob, self.target_entropy)
            self.alpha_optimizer.zero_grad(set_to_none=True)
            alpha_loss.backward()
            # multi-process: dJ/d log α averaged over the ranks with the loss (no-op in one process)
            mean_alpha_loss = all_reduce_gradients([self.log_alpha], alpha_loss.detach().reshape(1))
            alpha_bad = ~torch.isfinite(mean_alpha_loss).all()
            step_unless(self.alpha_optimizer, alpha_bad | actor_bad)
        else:
            alpha_loss = torch.zeros((), device=self.device)
            alpha_bad = torch.zeros((), dtype=torch.bool, device=self.device)
        entropy = -log_prob.detach().mean()
        values = torch.stack([critic_loss.detach(), actor_loss.detach(), alpha_loss.detach(), q_mean, entropy])
        return values, [True] * 5, torch.stack([critic_bad, actor_bad, alpha_bad])

    @property
    def alpha(self) -> torch.Tensor:
        """The temperature α = exp(log α) (0-d, detached)."""
        return self.log_alpha.detach().exp()

    def _host_extras(self) -> torch.Tensor:
        return self.alpha.reshape(1)

    def _named_host_extras(self, values: list[float]) -> dict[str, float]:
        return {"alpha": values[0]}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**super()._optimizers(), "alpha_optimizer_state_dict": self.alpha_optimizer}

    def state_dict(self) -> dict[str, Any]:
        """The shared state plus log α."""
        return {**super().state_dict(), "log_alpha": self.log_alpha.detach().clone()}

    def _load_extra_optimizer_state(self, state: Mapping[str, Any]) -> None:
        saved = state.get("log_alpha")
        if isinstance(saved, torch.Tensor):
            with torch.no_grad():
                self.log_alpha.copy_(saved.reshape(()))
