"""Random Network Distillation: a curiosity bonus for states the agent has rarely seen.

A randomly initialized *target* network is frozen; a *predictor* network of the same input is trained to match
its output on the states the agent visits. On familiar states the predictor is accurate, on novel ones it is not,
so the prediction error ``‖target(s) − predictor(s)‖`` is an intrinsic reward that fades where the agent has been
and stays high elsewhere. It is added, weighted, to the env's reward before the returns are computed.

Reference:
    Burda et al. "Exploration by Random Network Distillation." arXiv:1810.12894 (2018).
    Schwarke et al. "Curiosity-Driven Learning of Joint Locomotion and Manipulation Tasks." CoRL 2023 (the
    rsl_rl variant: a chosen subset of the state, weight schedules).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from stride.config.schema import RNDCfg, RNDWeightScheduleCfg
from stride.config.strict import build
from stride.extensions.base import Extension
from stride.modules.activations import resolve_activation
from stride.modules.mlp import MLP
from stride.modules.normalization import EmpiricalNormalization
from stride.modules.pending_moments import PendingMoments
from stride.utils.errors import ConfigError
from stride.utils.obs_groups import resolve_obs_groups
from stride.utils.optim import load_optimizer_state, step_unless
from stride.utils.state_match import mismatch_error, optimizer_state_mismatches, state_dict_mismatches

if TYPE_CHECKING:
    from stride.extensions.factory import ExtensionContext
    from stride.storage import MiniBatch, RolloutStorage

_NON_NETWORK_KEYS = frozenset({"optimizer", "step", "discounted_return"})
"""Saved RND entries that are not network tensors."""

__all__ = ["RandomNetworkDistillation", "build_rnd", "rnd_state_from_rsl_rl", "scheduled_weight"]

_log = logging.getLogger(__name__)

_NORMALIZER_LIMIT = int(1e8)
"""Samples after which the state and reward statistics freeze (rsl_rl's ``until``)."""

_REWARD_STD_FLOOR = 1e-8
"""The intrinsic reward is divided by the running std only above this value (equal rewards stay finite)."""


def scheduled_weight(step: int, weight: float, schedule: RNDWeightScheduleCfg | None) -> float:
    """The intrinsic-reward weight at a given env step.

    Args:
        step: Rollout steps taken so far, counting the current one (the first step of training is 1).
        weight: The initial weight.
        schedule: The schedule; None (or mode 'constant') keeps ``weight``.

    Returns:
        'step': ``weight`` while ``step < final_step``, else ``final_value``. 'linear': ``weight`` while
        ``step < initial_step``, ``final_value`` once ``step > final_step``, and in between the linear
        interpolation, exact at both ends.
    """
    if schedule is None or schedule.mode == "constant":
        return weight
    final_step, final_value = int(schedule.final_step or 0), float(schedule.final_value or 0.0)
    if schedule.mode == "step":
        return weight if step < final_step else final_value
    initial_step = int(schedule.initial_step or 0)
    if step < initial_step:
        return weight
    if step > final_step:
        return final_value
    # w = w_0 + (w_f − w_0)·(step − s_0) / (s_f − s_0)
    return weight + (final_value - weight) * (step - initial_step) / (final_step - initial_step)


class RandomNetworkDistillation(Extension):
    """RND as an algorithm extension: reward bonus on every transition, predictor trained in the update.

    Hooks: ``on_transition`` adds ``weight·r_int`` to the env reward; ``extra_loss`` returns the predictor's MSE
    (logged as ``Loss/rnd``; it depends on no actor or critic parameter); ``after_optimizer_step`` steps the
    predictor's own Adam optimizer unless the algorithm skipped the step or the RND loss is not finite;
    ``after_update`` updates the state normalizer from the rollout and closes the iteration's statistics (under
    torchrun it also merges the ranks' intrinsic returns into the reward normalizer: one all-gather per iteration).

    Args:
        cfg: RND settings.
        obs_groups: Env observation groups concatenated into the RND state (the ``rnd_state`` set).
        num_states: Size of the concatenated RND state.
        num_envs: N (the reward normalizer keeps one discounted sum per env).
        device: Where networks and statistics live.
        gamma: Discount of the intrinsic return used by the reward normalizer.
        weight_scale: Factor applied to ``cfg.weight`` (the env's ``step_dt``, as rsl_rl does; 1 otherwise).

    Raises:
        ConfigError: If the activation or a layer width is invalid.
    """

    name = "rnd"
    capturable = True

    def __init__(
        self,
        cfg: RNDCfg,
        obs_groups: Sequence[str],
        num_states: int,
        num_envs: int,
        device: str | torch.device = "cpu",
        gamma: float = 0.99,
        weight_scale: float = 1.0,
    ) -> None:
        self.cfg = cfg
        self.obs_groups = list(obs_groups)
        self.num_states = num_states
        self.device = torch.device(device)
        self.gamma = gamma
        self.initial_weight = cfg.weight * weight_scale
        self.weight = scheduled_weight(0, self.initial_weight, cfg.weight_schedule)
        """The weight of the latest transition (logged as ``Policy/rnd_weight``)."""
        self.predictor = MLP(num_states, cfg.num_outputs, cfg.predictor_hidden_dims, cfg.activation)
        self.target = MLP(num_states, cfg.num_outputs, cfg.target_hidden_dims, cfg.activation)
        self.state_normalizer = (
            EmpiricalNormalization(num_states, until=_NORMALIZER_LIMIT) if cfg.state_normalization else None
        )
        self.reward_normalizer = (
            EmpiricalNormalization(1, until=_NORMALIZER_LIMIT) if cfg.reward_normalization else None
        )
        # one module holding everything with a state dict, under rsl_rl's key names
        modules: dict[str, nn.Module] = {"predictor": self.predictor, "target": self.target}
        if self.state_normalizer is not None:
            modules["state_normalizer"] = self.state_normalizer
        if self.reward_normalizer is not None:
            modules["reward_normalizer"] = self.reward_normalizer
        self.networks = nn.ModuleDict(modules).to(self.device)
        # the target is a fixed random function: no gradients, never in an optimizer
        self.target.requires_grad_(False)
        self.target.eval()
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=cfg.learning_rate, fused=True)
        self.step = 0
        """Rollout steps taken (``on_transition`` calls); drives the weight schedule."""
        # R̄ per env: the running discounted intrinsic return the reward normalizer tracks
        self._discounted_return = torch.zeros(num_envs, device=self.device)
        # under torchrun: this rank's R̄ of the iteration, merged into the reward normalizer by after_update
        self._pending_returns = PendingMoments()
        # (Σ weighted intrinsic, Σ extrinsic) of this iteration's transitions, and their count
        self._sums = torch.zeros(2, device=self.device)
        self._count = 0
        self._means = torch.full((2,), float("nan"), device=self.device)
        self._loss: torch.Tensor | None = None

    # --------------------------------------------------------------------------------------------- the reward
    def rnd_state(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate the ``rnd_state`` groups. Shape: (..., num_states)."""
        if len(self.obs_groups) == 1:
            return obs[self.obs_groups[0]]
        return torch.cat([obs[g] for g in self.obs_groups], dim=-1)

    def _normalized_state(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        state = self.rnd_state(obs).to(torch.float32)
        if self.state_normalizer is not None:
            state = self.state_normalizer(state)
        return state

    @torch.no_grad()
    def prediction_error(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The raw novelty ``‖target(s) − predictor(s)‖₂`` (state-normalized, not reward-normalized or weighted).

        Changes no state. Shape: (N,) for observations of batch (N,).
        """
        state = self._normalized_state(obs)
        return torch.linalg.vector_norm(self.target(state) - self.predictor(state), dim=-1)

    def on_transition(
        self, obs: Mapping[str, torch.Tensor], rewards: torch.Tensor, dones: torch.Tensor, extras: Mapping[str, Any]
    ) -> torch.Tensor:
        """Return ``rewards + weight·r_int`` for the observations the env just returned. Shape: (N,)."""
        self.step += 1
        intrinsic = self.prediction_error(obs)
        if self.reward_normalizer is not None:
            intrinsic = self._normalize_reward(self.reward_normalizer, intrinsic)
        self.weight = scheduled_weight(self.step, self.initial_weight, self.cfg.weight_schedule)
        # r = r_ext + w·r_int
        intrinsic = self.weight * intrinsic
        self._sums += torch.stack((intrinsic.sum(), rewards.sum()))
        self._count += rewards.numel()
        return rewards + intrinsic

    @torch.no_grad()
    def _normalize_reward(self, normalizer: EmpiricalNormalization, intrinsic: torch.Tensor) -> torch.Tensor:
        """Divide by the running std of the discounted intrinsic return.

        In one process the statistics include this step first; under torchrun they are those of every rank's steps
        up to the iteration's start (this rank's steps wait in the pending moments until :meth:`after_update`).
        """
        # R̄_t = γ·R̄_{t−1} + r_t, per env and never reset at dones (the curiosity return is non-episodic)
        self._discounted_return.mul_(self.gamma).add_(intrinsic)
        self._pending_returns.defer(normalizer, self._discounted_return.unsqueeze(-1))
        std = normalizer.std.reshape(())
        # r_int / σ(R̄); left as is while σ is ~0 (e.g. all rewards equal so far)
        return torch.where(std > _REWARD_STD_FLOOR, intrinsic / std.clamp_min(_REWARD_STD_FLOOR), intrinsic)

    # ----------------------------------------------------------------------------------------- the predictor
    def loss(self, obs: Mapping[str, torch.Tensor], masks: torch.Tensor | None = None) -> torch.Tensor:
        """Predictor regression loss ``mean ‖predictor(s) − target(s)‖² / num_outputs`` (0-d, with gradient).

        Args:
            obs: Observations of a mini-batch, batch shape (B,) or padded (T, B) with ``masks``.
            masks: Valid steps of padded trajectories (recurrent mini-batches), shape (T, B); None: all valid.
        """
        with torch.no_grad():
            state = self._normalized_state(obs)
            target = self.target(state)
        squared = (self.predictor(state) - target).square().mean(dim=-1)
        if masks is None:
            return squared.mean()
        weights = masks.to(squared.dtype)
        # masked mean over the valid steps only (padding carries no information)
        return (squared * weights).sum() / weights.sum().clamp_min(1.0)

    def extra_loss(self, batch: MiniBatch, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The predictor's loss on this mini-batch (on the original states only when the batch is augmented)."""
        # gradients of the predictor come only from this term; clear last step's before the algorithm's backward
        self.optimizer.zero_grad(set_to_none=True)
        obs = batch.observations
        original = outputs.get("original_batch_size")
        if original is not None and batch.masks is None:
            obs = obs[: int(original)]
        self._loss = self.loss(obs, batch.masks)
        return {"rnd": self._loss}

    def after_optimizer_step(self, skipped: torch.Tensor) -> None:
        """Step the predictor's optimizer on the device, unless skipped or the RND loss is not finite."""
        if self._loss is None:
            return
        step_unless(self.optimizer, skipped.to(self.device) | ~torch.isfinite(self._loss.detach()))
        self._loss = None

    @torch.no_grad()
    def after_update(self, storage: RolloutStorage) -> None:
        """Update the state normalizer from the rollout's states; close this iteration's reward statistics.

        Under torchrun the ranks' discounted intrinsic returns of the iteration enter the reward normalizer here, in
        one all-gather (in one process they entered at every step).
        """
        if self.state_normalizer is not None:
            self.state_normalizer.update(self.rnd_state(storage.observations).to(torch.float32))
        if self.reward_normalizer is not None:
            self._pending_returns.merge_into(self.reward_normalizer)
        self._means.copy_(self._sums / max(self._count, 1))
        if self._count == 0:
            self._means.fill_(float("nan"))
        self._sums.zero_()
        self._count = 0

    def stats(self) -> dict[str, torch.Tensor | float]:
        """Per-transition means of this iteration's weighted intrinsic and extrinsic rewards, and the weight."""
        intrinsic, extrinsic = self._means.tolist()  # one host read for both
        return {
            "Train/mean_intrinsic_reward": intrinsic,
            "Train/mean_extrinsic_reward": extrinsic,
            "Policy/rnd_weight": self.weight,
        }

    def parameters_to_sync(self) -> list[nn.Parameter]:
        """The predictor's parameters (the target is never trained)."""
        return list(self.predictor.parameters())

    # ------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Networks and normalizers (rsl_rl's key names), optimizer, schedule step and discounted returns."""
        state: dict[str, Any] = {k: v.detach().clone() for k, v in self.networks.state_dict().items()}
        state["optimizer"] = copy.deepcopy(self.optimizer.state_dict())
        state["step"] = self.step
        if self.reward_normalizer is not None:
            state["discounted_return"] = self._discounted_return.clone()
        return state

    def state_mismatches(self, state: Mapping[str, Any], strict: bool = True) -> list[str]:
        """Every missing, unexpected or mis-shaped entry of a saved RND state (nothing is changed)."""
        tensors = {k: v for k, v in state.items() if k not in _NON_NETWORK_KEYS}
        problems = state_dict_mismatches(self.networks.state_dict(), tensors, True, "extensions.rnd")
        if "optimizer" in state:
            names = [f"predictor.{k}" for k, _ in self.predictor.named_parameters()]
            problems += optimizer_state_mismatches(
                self.optimizer, state["optimizer"], "extensions.rnd.optimizer", names
            )
        returns = state.get("discounted_return")
        if returns is not None and (
            not isinstance(returns, torch.Tensor) or returns.shape != self._discounted_return.shape
        ):
            shape = tuple(returns.shape) if isinstance(returns, torch.Tensor) else type(returns).__name__
            problems.append(
                f"extensions.rnd.discounted_return: checkpoint shape {shape} vs "
                f"{tuple(self._discounted_return.shape)} (one per env: was it saved with another num_envs?)"
            )
        step = state.get("step", 0)
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            problems.append(f"extensions.rnd.step: expected an int >= 0, got {step!r}")
        return problems

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output, checking everything before changing anything.

        ``step`` and ``discounted_return`` may be absent (rsl_rl does not save them): they restart from 0, as in
        rsl_rl.

        Raises:
            CheckpointError: Listing every missing, unexpected or mis-shaped entry.
        """
        problems = self.state_mismatches(state)
        if problems:
            raise mismatch_error(problems)
        tensors = {k: v for k, v in state.items() if k not in _NON_NETWORK_KEYS}
        step = state.get("step", 0)
        returns = state.get("discounted_return")
        self.networks.load_state_dict(tensors)
        if "optimizer" in state:
            load_optimizer_state(self.optimizer, state["optimizer"])
        self.step = step
        self.weight = scheduled_weight(step, self.initial_weight, self.cfg.weight_schedule)
        if returns is not None:
            self._discounted_return.copy_(returns)
        else:
            self._discounted_return.zero_()


def rnd_state_from_rsl_rl(
    rnd_state_dict: Mapping[str, Any], rnd_optimizer_state_dict: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Map rsl_rl's RND checkpoint entries onto :meth:`RandomNetworkDistillation.state_dict`'s layout.

    rsl_rl saves its RND module (``predictor.*``, ``target.*``, ``state_normalizer.*``,
    ``reward_normalizer.emp_norm.*`` with scalar statistics of shape (1,)) as ``rnd_state_dict`` and the predictor's
    Adam state as ``rnd_optimizer_state_dict``; the schedule step and the discounted returns are not saved.

    Args:
        rnd_state_dict: rsl_rl's ``rnd_state_dict``.
        rnd_optimizer_state_dict: rsl_rl's ``rnd_optimizer_state_dict`` (None when absent).

    Returns:
        A new dict for ``load_state_dict`` (tensors shared, not copied).
    """
    state: dict[str, Any] = {}
    for key, value in rnd_state_dict.items():
        name = str(key)
        if name.startswith("reward_normalizer.emp_norm."):
            name = "reward_normalizer." + name.removeprefix("reward_normalizer.emp_norm.")
            if isinstance(value, torch.Tensor) and value.dim() == 1:
                value = value.reshape(1, 1)  # rsl_rl's normalizer of a scalar keeps shape (1,), stride's (1, 1)
        state[name] = value
    if rnd_optimizer_state_dict is not None:
        state["optimizer"] = rnd_optimizer_state_dict
    return state


def rnd_state_to_rsl_rl(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The inverse of :func:`rnd_state_from_rsl_rl`: stride's RND state as rsl_rl's two checkpoint entries.

    Args:
        state: :meth:`RandomNetworkDistillation.state_dict`.

    Returns:
        ``(rnd_state_dict, rnd_optimizer_state_dict)`` in rsl_rl's layout (tensors shared, not copied); the schedule
        step and the discounted returns, which rsl_rl does not save, are left out.
    """
    networks: dict[str, Any] = {}
    for key, value in state.items():
        name = str(key)
        if name in _NON_NETWORK_KEYS:
            continue
        if name.startswith("reward_normalizer."):
            name = "reward_normalizer.emp_norm." + name.removeprefix("reward_normalizer.")
            if isinstance(value, torch.Tensor) and tuple(value.shape) == (1, 1):
                value = value.reshape(1)
        networks[name] = value
    optimizer = state.get("optimizer")
    return networks, dict(optimizer) if isinstance(optimizer, Mapping) else None


def _rnd_groups(context: ExtensionContext, path: str) -> list[str]:
    """The ``rnd_state`` groups: as given in ``obs_groups``, else an env group named ``rnd_state``, else ``policy``."""
    given = context.obs_groups.get("rnd_state")
    if given is None:
        fallback = next((g for g in ("rnd_state", "policy") if g in context.obs), None)
        if fallback is None:
            raise ConfigError(
                f"'{path}' needs the 'rnd_state' observation set: obs_groups has none and the env has neither an "
                f"'rnd_state' nor a 'policy' group (env groups: {list(context.obs.keys())}). Add e.g. "
                "obs_groups={'rnd_state': ['<group>']} naming the part of the state that novelty should be measured on."
            )
        _log.warning(
            "obs_groups has no 'rnd_state' set; RND reads the env group '%s'. Set obs_groups.rnd_state to choose the "
            "part of the state novelty is measured on.",
            fallback,
        )
        given = [fallback]
    groups = resolve_obs_groups(context.obs, {"rnd_state": list(given)}, ["rnd_state"])["rnd_state"]
    for group in groups:
        shape = tuple(context.obs[group].shape)
        if len(shape) != 2:
            raise ConfigError(
                f"obs_groups.rnd_state: RND takes 1-D groups (shape (num_envs, size)); group '{group}' has shape "
                f"{shape}. Choose flat groups for rnd_state."
            )
    return groups


def build_rnd(section: Mapping[str, Any], context: ExtensionContext, path: str) -> RandomNetworkDistillation:
    """Build RND from an ``rnd_cfg`` dict (the factory's builder for ``algorithm.rnd_cfg``; the dict is not modified).

    Args:
        section: The ``rnd_cfg`` dict (keys of :class:`~stride.config.schema.RNDCfg`).
        context: Observations, observation sets, env and device.
        path: Config path for errors (``"algorithm.rnd_cfg"``).

    Returns:
        The extension.

    Raises:
        ConfigError: On an unknown key, a value out of range, an unknown activation, or an ``rnd_state`` set that
            names a missing or non-flat group.
    """
    cfg = build(RNDCfg, section, path)
    try:
        resolve_activation(cfg.activation)
    except ConfigError as err:
        raise ConfigError(f"'{path}.activation': {err}") from err
    groups = _rnd_groups(context, path)
    num_states = sum(int(context.obs[g].shape[-1]) for g in groups)
    # rsl_rl scales the initial weight (not the schedule's final_value) by the env's step_dt when it has one
    step_dt = getattr(getattr(context.env, "unwrapped", None), "step_dt", None)
    scale = float(step_dt) if isinstance(step_dt, (int, float)) and math.isfinite(step_dt) else 1.0
    return RandomNetworkDistillation(
        cfg, groups, num_states, context.num_envs, context.device, gamma=context.gamma, weight_scale=scale
    )
