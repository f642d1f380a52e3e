"""Symmetry augmentation and mirror loss (rsl_rl's ``symmetry_cfg``) as an algorithm extension.

Two uses of one augmentation function ``func(env=..., obs=..., actions=...)`` that returns the originals first and
``k − 1`` transformed copies after them along the batch dimension:

- data augmentation: every mini-batch is extended with ``func``'s transformed copies; the stored log-probabilities,
  values, returns and advantages are repeated ``k`` times to match. The stored distribution parameters are *not*
  repeated: the algorithm measures KL (and adapts the learning rate) and the entropy on the original samples only.
- mirror loss: ``MSE(μ(g·s), g·μ(s))`` over the transformed copies, with ``μ`` the actor's mean action and the
  target ``g·μ(s)`` detached, so the gradient flows only through the actor's output on the transformed
  observations (rsl_rl's choice). With augmentation on, ``μ(g·s)`` comes from the update's own forward pass.

Recurrent models (which rsl_rl refuses): a mini-batch holds whole trajectories, so every trajectory gets its
transformed twin, and a twin needs the hidden state the policy would have had on the transformed trajectory. At
the first mini-batch of each update, before any optimizer step (so with the rollout's parameters), the extension
replays the rollout's transformed observations through each recurrent model in step mode, resetting at the
rollout's dones, from the transformed stream's state at the end of the previous rollout. A twin starting after a
done starts from zeros, like its original; a twin starting at the rollout's first step starts from the replayed
state of its env. The transformed half's recomputed log-probabilities then equal those of a direct rollout of the
transformed trajectories (tested).

The function is checked once at construction on sample batches (:mod:`stride.extensions.symmetry_check`), so a
malformed one fails before the first env step, with its name in the message.

Reference:
    Mittal et al. "Symmetry Considerations for Learning Task Symmetric Robot Policies." ICRA 2024.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, cast

import torch
from tensordict import TensorDict

from stride.config.schema import SymmetryCfg
from stride.config.strict import build
from stride.env.symmetry import SYMMETRY_FUNCTIONS
from stride.extensions.base import Extension
from stride.extensions.factory import ExtensionContext
from stride.extensions.symmetry_check import (
    AugmentationFunction,
    as_tensordict,
    check_augmentation_function,
    function_name,
)
from stride.models.mlp_model import MLPModel
from stride.modules.rnn import HiddenState, cat_hidden, map_hidden
from stride.storage import MiniBatch
from stride.storage.rollout_storage import Hidden
from stride.utils.errors import ConfigError
from stride.utils.imports import resolve_callable

__all__ = [
    "MirrorStatistic",
    "Symmetry",
    "augmented_copies",
    "build_symmetry",
    "check_augmentation_function",
    "check_on_samples",
    "symmetry_function",
]

_log = logging.getLogger(__name__)


def _recurrent_batch(batch: MiniBatch) -> tuple[torch.Tensor, tuple[Hidden, Hidden], torch.Tensor]:
    """The masks, start states and trajectory starts a recurrent mini-batch carries.

    Raises:
        ConfigError: If the batch lacks them (it did not come from the recurrent mini-batch generator).
    """
    if batch.masks is None or batch.hidden_states is None or batch.trajectory_starts is None:
        raise ConfigError(
            "symmetry with a recurrent model needs mini-batches from RolloutStorage.recurrent_mini_batch_generator "
            "(masks, hidden_states and trajectory_starts); this batch lacks them."
        )
    # with masks (the padded form) the states are plain ones, never the env-column form's SequenceStart
    return batch.masks, cast("tuple[Hidden, Hidden]", batch.hidden_states), batch.trajectory_starts


def _install(model: MLPModel, hidden: HiddenState) -> None:
    """Set a model's recurrent state (None: forget it, so the next step starts from zeros)."""
    if hidden is None:
        model.reset()
    else:
        model.reset(hidden_state=hidden)


def _stack_copies(x: torch.Tensor, copies: int, steps: int) -> torch.Tensor:
    """``func`` output of a flattened (T·C, ...) input, (k·T·C, ...), as the sequence layout (T, k·C, ...)."""
    per_copy = x.unflatten(0, (copies, steps, -1))  # (k, T, C, ...)
    return per_copy.movedim(0, 1).flatten(1, 2)


class MirrorStatistic(Extension):
    """The logged mirror loss shared by PPO's and the off-policy learners' symmetry extensions.

    A subclass sets ``_last`` to each step's unweighted MSE (detached); :meth:`after_optimizer_step` counts it unless
    the step was skipped, and :meth:`_close_iteration` turns the sums into the iteration's ``Loss/symmetry``. No host
    read: everything stays on the device until the runner logs it.

    Args:
        device: Where the statistic accumulates.
    """

    name = "symmetry"

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self._last = torch.zeros((), device=device)
        self._sum = torch.zeros((), device=device)
        self._count = torch.zeros((), device=device)
        self._mean = torch.full((), float("nan"), device=device)

    def after_optimizer_step(self, skipped: torch.Tensor) -> None:
        """Count the step's MSE unless the algorithm skipped its step."""
        applied = (~skipped).to(self._last.dtype)
        self._sum += applied * self._last
        self._count += applied

    def _close_iteration(self) -> None:
        """The mean MSE over the applied steps becomes this iteration's statistic; the sums restart."""
        self._mean = self._sum / self._count.clamp(min=1.0)
        # in place: a captured update graph (algorithm.cuda_graphs) keeps adding into these very tensors
        self._sum.zero_()
        self._count.zero_()

    def stats(self) -> dict[str, torch.Tensor | float]:
        """``Loss/symmetry``: the unweighted mirror MSE, averaged over the iteration's steps (as rsl_rl)."""
        return {"Loss/symmetry": self._mean}


class Symmetry(MirrorStatistic):
    """Mirror augmentation of mini-batches and the mirror loss, for feed-forward and recurrent models.

    Args:
        cfg: The ``symmetry_cfg`` section.
        func: The resolved augmentation function (already checked).
        env: Passed to ``func`` as ``env=`` (Isaac Lab functions read the env's observation layout from it).
        actor: The policy model; its distribution gives the mean action.
        name: Name of ``func`` for messages.
        copies: Samples per original in ``func``'s output, k (originals included).
        critic: The value model (its recurrent state is replayed too when it is recurrent).
        storage: The algorithm's rollout storage (needed with recurrent models).
        device: Where the logged statistics accumulate.
    """

    capturable = True
    """Feed-forward mini-batches run inside a captured update (the augmentation function must be graph-safe)."""

    def __init__(
        self,
        cfg: SymmetryCfg,
        func: AugmentationFunction,
        env: Any,
        actor: MLPModel,
        name: str,
        copies: int = 2,
        critic: MLPModel | None = None,
        storage: Any = None,
        device: torch.device | str = "cpu",
    ) -> None:
        distribution = actor.distribution
        if distribution is None:
            raise ConfigError("symmetry_cfg needs an actor with a distribution (actor.distribution_cfg).")
        super().__init__(device)
        self.cfg = cfg
        self.func = func
        self.env = env
        self.actor = actor
        self.critic = critic
        self.distribution = distribution
        self.func_name = name
        self.copies = copies
        self.storage = storage
        self._models = {"actor": actor, "critic": critic}
        # the recurrent models, by key: their transformed-stream states are replayed and carried
        self._recurrent: dict[str, MLPModel] = {
            key: model for key, model in self._models.items() if model is not None and model.is_recurrent
        }
        if self._recurrent and storage is None:
            raise ConfigError("symmetry_cfg with recurrent models needs the rollout storage (use PPO.construct).")
        # per recurrent model and transformed copy: the transformed stream's state at this rollout's start and end
        self._start: dict[str, list[HiddenState]] = {key: [None] * (copies - 1) for key in self._recurrent}
        self._carry: dict[str, list[HiddenState]] = {key: [None] * (copies - 1) for key in self._recurrent}
        self._replayed = False

    # ------------------------------------------------------------------------------------------------- hooks
    def augment_batch(self, batch: MiniBatch) -> MiniBatch:
        """Append ``func``'s transformed copies to observations and actions; repeat the other rollout tensors.

        Raises:
            ConfigError: If ``func`` returns batches that are not the same multiple (>= 2) of the input batch.
        """
        if self._recurrent and not self._replayed:
            self._replay()
        if not self.cfg.use_data_augmentation:
            return batch
        if batch.masks is not None:
            return self._augment_sequences(batch)
        size = batch.actions.shape[0]
        obs, actions = self.func(env=self.env, obs=batch.observations, actions=batch.actions)
        copies = augmented_copies(self.func_name, self.copies, obs, actions, size)
        obs = as_tensordict(obs, copies * size)
        # the stored tensors of sample i describe every transformed copy of i: repeat them k times
        return dataclasses.replace(
            batch,
            observations=obs,
            actions=actions,
            old_log_prob=batch.old_log_prob.repeat(copies),
            old_values=batch.old_values.repeat(copies),
            returns=batch.returns.repeat(copies),
            advantages=batch.advantages.repeat(copies),
        )

    def extra_loss(self, batch: MiniBatch, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The weighted mirror loss ``{"mirror": c · MSE}`` when ``use_mirror_loss``; always measures the MSE."""
        params: tuple[torch.Tensor, ...] = outputs["dist_params"]
        # samples lie along dim 0 (feed-forward) or dim 1 (recurrent: (T, M, ...))
        axis = batch.old_log_prob.dim() - 1
        num_original = int(outputs.get("original_batch_size", batch.old_dist_params[0].shape[axis]))
        train = self.cfg.use_mirror_loss
        with torch.set_grad_enabled(train and torch.is_grad_enabled()):
            if self.cfg.use_data_augmentation:
                # μ(g·s) for every transformed copy, from the update's own forward pass
                mean = self.distribution.mode(params)
                transformed_mean = mean.narrow(axis, num_original, mean.shape[axis] - num_original)
            else:
                transformed_mean = self._transformed_mean(batch)
            # target g·μ(s): the transformed mean actions of the originals, detached
            original_mean = self.distribution.mode(tuple(p.narrow(axis, 0, num_original) for p in params)).detach()
            target = self._transformed_actions(original_mean, axis)
            # MSE = mean over copies, samples and action components of (μ(g·s) − g·μ(s))²
            mse = torch.nn.functional.mse_loss(transformed_mean, target.detach())
        self._last = mse.detach()
        if not train:
            return {}
        return {"mirror": self.cfg.mirror_loss_coeff * mse}

    def after_update(self, storage: Any) -> None:
        """Close the iteration: the mean MSE over applied mini-batches becomes this iteration's statistic."""
        self._close_iteration()
        self._replayed = False

    def state_dict(self) -> dict[str, Any]:
        """Recurrent models: the transformed streams' states the next rollout continues from (exact resume)."""
        if not self._recurrent:
            return {}
        return {
            "carry": {key: [map_hidden(h, torch.Tensor.clone) for h in states] for key, states in self._carry.items()}
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        carry = state.get("carry")
        if not self._recurrent or carry is None:
            return
        for key in self._recurrent:
            self._carry[key] = [map_hidden(h, torch.Tensor.clone) if h is not None else None for h in carry[key]]

    # -------------------------------------------------------------------------------------- transformations
    def _transformed_actions(self, actions: torch.Tensor, axis: int) -> torch.Tensor:
        """The k − 1 transformed copies of ``actions``: (B, A) → ((k−1)·B, A); (T, M, A) → (T, (k−1)·M, A)."""
        if axis == 0:
            return self.func(env=self.env, obs=None, actions=actions)[1][actions.shape[0] :]
        steps, cols = actions.shape[:2]
        flat = self.func(env=self.env, obs=None, actions=actions.flatten(0, 1))[1]
        return _stack_copies(flat, self.copies, steps)[:, cols:]

    def _transformed_obs(self, obs: TensorDict) -> TensorDict:
        """The k − 1 transformed copies of a (T, B) observation TensorDict, as (T, (k−1)·B)."""
        steps, cols = obs.batch_size[0], obs.batch_size[1]
        out = self.func(env=self.env, obs=obs.reshape(steps * cols), actions=None)[0]
        flat = as_tensordict(out, self.copies * steps * cols)
        return TensorDict(
            {key: _stack_copies(flat[key], self.copies, steps)[:, cols:] for key in list(flat.keys())},
            batch_size=[steps, (self.copies - 1) * cols],
            device=obs.device,
        )

    def _transformed_mean(self, batch: MiniBatch) -> torch.Tensor:
        """μ(g·s) from an extra actor forward on the transformed observations only (mirror loss alone)."""
        if batch.masks is None:
            size = batch.actions.shape[0]
            obs = self.func(env=self.env, obs=batch.observations, actions=None)[0]
            return self.distribution.mode(self.actor.distribution_params(obs[size:]))
        masks = batch.masks.repeat(1, self.copies - 1)
        hidden = cat_hidden(self._start_states("actor", batch)) if "actor" in self._recurrent else None
        params = self.actor.distribution_params(self._transformed_obs(batch.observations), masks, hidden)
        return self.distribution.mode(params)

    def _augment_sequences(self, batch: MiniBatch) -> MiniBatch:
        """Recurrent mini-batch: each trajectory's transformed twins appended along dim 1, with their own states."""
        k = self.copies
        transformed = self._transformed_obs(batch.observations)
        obs = TensorDict(
            {key: torch.cat((batch.observations[key], transformed[key]), dim=1) for key in list(transformed.keys())},
            batch_size=[batch.observations.batch_size[0], k * batch.observations.batch_size[1]],
            device=batch.observations.device,
        )
        actions = torch.cat((batch.actions, self._transformed_actions(batch.actions, axis=1)), dim=1)
        masks, hidden_states, _ = _recurrent_batch(batch)
        hidden = tuple(
            None if original is None else cat_hidden([original, *self._start_states(key, batch)])
            for key, original in zip(("actor", "critic"), hidden_states, strict=True)
        )
        return dataclasses.replace(
            batch,
            observations=obs,
            actions=actions,
            old_log_prob=batch.old_log_prob.repeat(1, k),
            old_values=batch.old_values.repeat(1, k),
            returns=batch.returns.repeat(1, k),
            advantages=batch.advantages.repeat(1, k),
            masks=masks.repeat(1, k),
            hidden_states=hidden,
        )

    # ---------------------------------------------------------------------------------------- recurrent state
    @torch.no_grad()
    def _replay(self) -> None:
        """Run the rollout's transformed observations through each recurrent model, as the rollout ran the originals.

        Called at the first mini-batch of an update, before any optimizer step: the parameters and normalizer
        statistics are still those the rollout acted with.
        """
        storage = self.storage
        num_steps, num_envs = storage.num_steps, storage.num_envs
        obs = TensorDict(dict(storage.obs), batch_size=[num_steps, num_envs], device=storage.device)
        transformed = self._transformed_obs(obs)  # (T, (k−1)·N)
        for key, model in self._recurrent.items():
            live = model.get_hidden_state()
            self._start[key] = list(self._carry[key])
            for j in range(self.copies - 1):
                _install(model, self._start[key][j])
                for t in range(num_steps):
                    model.latent(transformed[t, j * num_envs : (j + 1) * num_envs])
                    model.reset(storage.dones[t])
                self._carry[key][j] = model.get_hidden_state()
            # put the live rollout state back exactly as it was
            _install(model, live)
        self._replayed = True

    def _start_states(self, key: str, batch: MiniBatch) -> list[HiddenState]:
        """Initial states of the transformed twins of the batch's trajectories, one (L, B_traj, H) state per copy.

        A trajectory that starts after a done starts from zeros; one that starts at the rollout's first step starts
        from its env's transformed-stream state at the rollout start.
        """
        _, hidden_states, starts = _recurrent_batch(batch)
        original = hidden_states[0 if key == "actor" else 1]
        env = torch.div(starts, self.storage.num_steps, rounding_mode="floor")
        at_rollout_start = (starts % self.storage.num_steps == 0).view(1, -1, 1)
        states: list[HiddenState] = []
        for j in range(self.copies - 1):
            state = self._start[key][j]
            if state is None:
                states.append(map_hidden(original, torch.zeros_like))
                continue
            # h_twin = h_start[:, env] at the rollout's first step, 0 after a done
            states.append(map_hidden(state, lambda h: torch.where(at_rollout_start, h.index_select(1, env), 0.0)))
        return states

    # ----------------------------------------------------------------------------------------------- helpers


# ------------------------------------------------------------------------------------------------- builder
def augmented_copies(name: str, copies: int, obs: Any, actions: Any, size: int) -> int:
    """Check that ``func``'s output holds ``copies`` samples per input sample in every entry; return ``copies``.

    Raises:
        ConfigError: If an entry's batch is not ``copies · size`` (the function changed its layout since the
            construction-time check).
    """
    sizes = {str(key): value.shape[0] for key, value in obs.items()} if isinstance(obs, Mapping) else {}
    sizes["actions"] = actions.shape[0] if isinstance(actions, torch.Tensor) else -1
    total = sizes["actions"]
    if total != copies * size or any(s != total for s in sizes.values()):
        raise ConfigError(
            f"symmetry_cfg.data_augmentation_func {name} returned batch sizes {sizes} for a batch of {size}; "
            f"expected {copies}·{size} as at construction (originals first, then the copies). "
            "Fix: concatenate the original and transformed samples along dimension 0."
        )
    return copies


def _sample_batch(obs: Mapping[str, torch.Tensor], num_actions: int, size: int) -> tuple[TensorDict, torch.Tensor]:
    """``size`` rows drawn from ``obs`` with random actions, from a private generator (global RNG untouched)."""
    items = {str(key): value for key, value in obs.items()}
    num_envs = next(iter(items.values())).shape[0]
    device = next(iter(items.values())).device
    generator = torch.Generator().manual_seed(0)
    rows = torch.randint(num_envs, (size,), generator=generator).to(device)
    sample = TensorDict({k: v.index_select(0, rows) for k, v in items.items()}, batch_size=[size], device=device)
    actions = torch.randn(size, num_actions, generator=generator).to(device)
    return sample, actions


def symmetry_function(section: Mapping[str, Any], path: str) -> tuple[SymmetryCfg, AugmentationFunction, str]:
    """The strict ``symmetry_cfg`` section, its resolved augmentation function and the function's name.

    The function may be a callable, ``"module:function"`` or a built-in name (:data:`SYMMETRY_FUNCTIONS`).

    Raises:
        ConfigError: On an invalid key or value, or a function that cannot be resolved.
    """
    cfg = build(SymmetryCfg, section, path)
    func = resolve_callable(cfg.data_augmentation_func, SYMMETRY_FUNCTIONS, f"{path}.data_augmentation_func")
    name = cfg.data_augmentation_func if isinstance(cfg.data_augmentation_func, str) else function_name(func)
    if not (cfg.use_data_augmentation or cfg.use_mirror_loss):
        _log.info("symmetry_cfg: augmentation and mirror loss are off; the mirror loss is only logged.")
    return cfg, func, name


def check_on_samples(
    func: AugmentationFunction,
    name: str,
    path: str,
    context: ExtensionContext,
    num_actions: int,
    *,
    joint_call: bool,
    obs_only_call: bool,
) -> int:
    """Check ``func`` on two sample batches: the env's observations, and a batch of another size.

    The second size catches functions that assume ``num_envs`` rows. The flags say which calls the algorithm will
    make (see :func:`check_augmentation_function`).

    Returns:
        The number of copies k (originals included).

    Raises:
        ConfigError: Naming the function on the first broken rule.
    """
    copies = 0
    for size in (context.num_envs, 2 * context.num_envs + 1):
        sample_obs, sample_actions = _sample_batch(context.obs, num_actions, size)
        copies = check_augmentation_function(
            func,
            context.env,
            sample_obs,
            sample_actions,
            joint_call=joint_call,
            obs_only_call=obs_only_call,
            name=name,
            path=f"{path}.data_augmentation_func",
        )
    return copies


def build_symmetry(section: Mapping[str, Any], context: ExtensionContext, path: str) -> Symmetry:
    """Build the :class:`Symmetry` extension from ``algorithm.symmetry_cfg`` (not modified).

    The function is resolved (callable, ``"module:function"`` or a built-in name) and checked with
    :func:`check_augmentation_function` on two sample batches: the env's observations, and a batch of another size
    (catching functions that assume ``num_envs`` rows).

    Raises:
        ConfigError: On an invalid key or value, or a malformed function (named in the message).
    """
    cfg, func, name = symmetry_function(section, path)
    actor, critic = context.actor, context.critic
    if not isinstance(actor, MLPModel) or not (critic is None or isinstance(critic, MLPModel)):
        raise ConfigError(f"'{path}' needs actor and critic derived from stride.models.MLPModel.")
    recurrent = actor.is_recurrent or (critic is not None and critic.is_recurrent)
    copies = check_on_samples(
        func,
        name,
        path,
        context,
        actor.output_dim,
        joint_call=cfg.use_data_augmentation and not recurrent,
        # sequences, and the mirror loss without augmentation, transform observations alone
        obs_only_call=recurrent or not cfg.use_data_augmentation,
    )
    return Symmetry(cfg, func, context.env, actor, name, copies, critic, context.storage, context.device)
