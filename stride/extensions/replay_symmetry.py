"""Symmetry augmentation and mirror loss on replay batches, for the off-policy learners (SAC, TD3).

The same ``symmetry_cfg`` keys and augmentation function as PPO's :class:`~stride.extensions.symmetry.Symmetry`
(rsl_rl's ``func(env=..., obs=..., actions=...)`` returning the originals first, then ``k − 1`` transformed copies),
resolved and checked by the same helpers. What differs is the batch: a replay batch holds (s, a, G, s', d), so

- data augmentation transforms ``s`` and ``a`` together and ``s'`` alone, and repeats the n-step return ``G`` and
  the bootstrap discount ``d`` ``k`` times (a mirrored transition has the same reward and done); the critic's
  target, the critic loss and the actor loss then use every row;
- the mirror loss is ``MSE(tanh μ(g·s), g·tanh μ(s))`` over the transformed copies, with the target detached (the
  gradient flows only through the actor's output on the transformed observations, as PPO's), weighted by
  ``mirror_loss_coeff`` and added to the actor's loss. tanh(μ) is the deterministic action in [-1, 1], the space
  the stored actions and the augmentation function live in.

Reference:
    Mittal et al. "Symmetry Considerations for Learning Task Symmetric Robot Policies." ICRA 2024.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from tensordict import TensorDict

from stride.config.schema import SymmetryCfg
from stride.extensions.factory import ExtensionContext
from stride.extensions.symmetry import MirrorStatistic, augmented_copies, check_on_samples, symmetry_function
from stride.extensions.symmetry_check import AugmentationFunction, as_tensordict
from stride.models.tanh_actor import TanhActor
from stride.storage.replay_buffer import ReplayBatch, ReplayBuffer
from stride.storage.rollout_storage import RolloutStorage
from stride.utils.errors import ConfigError

__all__ = ["ReplaySymmetry", "build_replay_symmetry"]


def _as_dict(obs: TensorDict) -> dict[str, torch.Tensor]:
    return {str(key): obs[key] for key in list(obs.keys())}


class ReplaySymmetry(MirrorStatistic):
    """Mirror augmentation of replay batches and the actor's mirror loss.

    Args:
        cfg: The ``symmetry_cfg`` section.
        func: The resolved augmentation function (already checked).
        env: Passed to ``func`` as ``env=``.
        actor: The tanh actor (its deterministic action gives the mirror loss without augmentation).
        name: Name of ``func`` for messages.
        copies: Samples per original in ``func``'s output, k (originals included).
        device: Where the logged statistic accumulates.
    """

    capturable = True
    """Runs inside a captured gradient step (``algorithm.cuda_graphs``; the augmentation function must be graph-safe:
    tensor ops only)."""

    def __init__(
        self,
        cfg: SymmetryCfg,
        func: AugmentationFunction,
        env: Any,
        actor: TanhActor,
        name: str,
        copies: int = 2,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(device)
        self.cfg = cfg
        self.func = func
        self.env = env
        self.actor = actor
        self.func_name = name
        self.copies = copies

    # ------------------------------------------------------------------------------------------------- hooks
    def augment_replay_batch(self, batch: ReplayBatch) -> ReplayBatch:
        """Append ``func``'s transformed copies of (s, a) and of s'; repeat G and d ``k`` times.

        Raises:
            ConfigError: If ``func`` returns batches that are not ``k`` times the input batch.
        """
        if not self.cfg.use_data_augmentation:
            return batch
        size = batch.actions.shape[0]
        obs = TensorDict(batch.observations, batch_size=[size])
        obs, actions = self.func(env=self.env, obs=obs, actions=batch.actions)
        k = augmented_copies(self.func_name, self.copies, obs, actions, size)
        next_obs, _ = self.func(env=self.env, obs=TensorDict(batch.next_observations, batch_size=[size]), actions=None)
        augmented_copies(self.func_name, self.copies, next_obs, actions, size)
        return ReplayBatch(
            observations=_as_dict(as_tensordict(obs, k * size)),
            actions=actions,
            # a mirrored transition has the same reward and the same done: G and γ^m·(1 − terminated) repeat
            returns=batch.returns.repeat(k),
            next_observations=_as_dict(as_tensordict(next_obs, k * size)),
            discounts=batch.discounts.repeat(k),
        )

    def extra_actor_loss(self, batch: ReplayBatch, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"mirror": c · MSE(tanh μ(g·s), g·tanh μ(s))}`` when ``use_mirror_loss``; the MSE is always measured."""
        mean_actions: torch.Tensor = outputs["mean_actions"]
        num_original = int(outputs["original_batch_size"])
        train = self.cfg.use_mirror_loss
        with torch.set_grad_enabled(train and torch.is_grad_enabled()):
            if self.cfg.use_data_augmentation:
                # tanh μ(g·s) of every transformed copy, from the actor step's own forward pass
                transformed = mean_actions[num_original:]
            else:
                obs = TensorDict(batch.observations, batch_size=[num_original])
                mirrored = as_tensordict(self.func(env=self.env, obs=obs, actions=None)[0], self.copies * num_original)
                transformed = self.actor.act_deterministic(_as_dict(mirrored[num_original:]))
            # target g·tanh μ(s): the transformed actions of the originals, detached
            original = mean_actions[:num_original].detach()
            target = self.func(env=self.env, obs=None, actions=original)[1][num_original:]
            # MSE = mean over copies, samples and action components of (tanh μ(g·s) − g·tanh μ(s))²
            mse = torch.nn.functional.mse_loss(transformed.float(), target.detach().float())
        self._last = mse.detach()
        if not train:
            return {}
        return {"mirror": self.cfg.mirror_loss_coeff * mse}

    def after_update(self, storage: RolloutStorage | ReplayBuffer) -> None:
        """Close the iteration: the mean MSE over its applied actor steps becomes ``Loss/symmetry``."""
        self._close_iteration()


def build_replay_symmetry(section: Mapping[str, Any], context: ExtensionContext, path: str) -> ReplaySymmetry:
    """Build :class:`ReplaySymmetry` from ``algorithm.symmetry_cfg`` of SAC or TD3 (not modified).

    The function is resolved and checked on sample batches as for PPO; the off-policy learner always makes the
    observation-only call (next observations, or the mirror loss without augmentation) and, with augmentation,
    the joint call.

    Raises:
        ConfigError: On an invalid key or value, a malformed function (named in the message), or an actor that is
            not a :class:`~stride.models.tanh_actor.TanhActor`.
    """
    cfg, func, name = symmetry_function(section, path)
    actor = context.actor
    if not isinstance(actor, TanhActor):
        raise ConfigError(f"'{path}' with SAC or TD3 needs the algorithm's TanhActor, got {type(actor).__name__}.")
    copies = check_on_samples(
        func, name, path, context, actor.num_actions, joint_call=cfg.use_data_augmentation, obs_only_call=True
    )
    return ReplaySymmetry(cfg, func, context.env, actor, name, copies, context.device)
