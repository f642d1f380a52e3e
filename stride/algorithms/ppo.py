"""Proximal Policy Optimization with the robotics extras of rsl_rl.

Reference:
    Schulman et al. "Proximal Policy Optimization Algorithms." arXiv:1707.06347 (2017).
    Rudin et al. "Learning to Walk in Minutes Using Massively Parallel Deep RL." CoRL 2021 (the rsl_rl recipe).

Beside this file: the construction from a train_cfg (``ppo_build.py``), the checkpoint state (``ppo_checkpoint.py``),
the time-out bootstrap (``ppo_time_outs.py``), the loss terms (``losses.py``), GAE (``returns.py``) and the CUDA-graph
machinery (``ppo_graphs.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from stride.algorithms.losses import adaptive_learning_rate, clipped_surrogate_loss, value_function_loss
from stride.algorithms.ppo_build import build_ppo_parts, named_trainable_parameters
from stride.algorithms.ppo_checkpoint import PPOCheckpoint
from stride.algorithms.ppo_graphs import PPOGraphs
from stride.algorithms.ppo_time_outs import TimeOutBootstrap
from stride.algorithms.returns import compute_gae, normalize_advantages
from stride.config.schema import PPOCfg
from stride.extensions.base import Extension, check_compatibility
from stride.models.mlp_model import MLPModel, Observations
from stride.modules import Distribution, RewardScaler, ValueNormalizer
from stride.storage import MiniBatch, RolloutStorage
from stride.storage.rollout_storage import Hidden
from stride.utils.compile import CompileMode, compiled
from stride.utils.distributed import all_reduce_gradients, mean_and_std
from stride.utils.errors import ConfigError, NonFiniteError
from stride.utils.optim import apply_schedule, check_schedule, load_optimizer_state, make_optimizer, step_unless

__all__ = ["PPO", "load_optimizer_state", "make_optimizer"]

_LOSS_KEYS = ("value", "surrogate", "entropy", "kl")
_CHECKED_TERMS = ("surrogate loss", "value loss", "entropy", "actor gradient norm", "critic gradient norm")


class PPO(TimeOutBootstrap, PPOCheckpoint):
    """PPO with the robotics extras.

    GAE, clipped surrogate and value losses, entropy bonus, KL-adaptive learning rate, gradient clipping,
    time-out bootstrapping and optional value normalization.

    Args:
        actor: Model with a distribution (reads the ``actor`` observation set).
        critic: Model with one output (reads the ``critic`` observation set).
        storage: Rollout storage sized for the env batch.
        cfg: Algorithm settings.
        device: Where models and storage live.
        extensions: Hooks such as symmetry or RND.
    """

    def __init__(
        self,
        actor: MLPModel,
        critic: MLPModel,
        storage: RolloutStorage,
        cfg: PPOCfg,
        device: str | torch.device = "cpu",
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.actor = actor.to(self.device)
        self.critic = critic.to(self.device)
        # the model calls of the rollout and the update (compiled by compile(); the models themselves stay plain)
        self._actor_params: Callable[..., tuple[torch.Tensor, ...]] = self.actor.distribution_params
        self._critic_value: Callable[..., torch.Tensor] = self.critic.value
        # None only for a deterministic actor, which check_trainable() refuses to train before any use of it
        self.distribution = cast(Distribution, actor.distribution)
        self.storage = storage
        self.extensions = list(extensions)
        self.is_recurrent = bool(actor.is_recurrent or critic.is_recurrent)
        check_compatibility(self.extensions, {"recurrent"} if self.is_recurrent else set())
        # what only training needs is checked by check_trainable() when learning starts: a runner built to play or
        # export a policy (50 envs, 1 env) may have a batch the mini-batches do not divide
        self._not_trainable: list[str] = []
        if actor.distribution is None:
            self._not_trainable.append(
                "actor.distribution_cfg is required to train with PPO, e.g. "
                "{'class_name': 'GaussianDistribution', 'init_std': 1.0}"
            )
        if self.is_recurrent and storage.num_envs % cfg.num_mini_batches != 0:
            self._not_trainable.append(
                f"algorithm.num_mini_batches={cfg.num_mini_batches} must divide num_envs={storage.num_envs} with a "
                "recurrent actor or critic (mini-batches are groups of whole env trajectories)"
            )
        if storage.batch_size % cfg.num_mini_batches != 0:
            self._not_trainable.append(
                f"algorithm.num_mini_batches={cfg.num_mini_batches} must divide num_envs × num_steps_per_env = "
                f"{storage.num_envs} × {storage.num_steps} = {storage.batch_size}"
            )
        self.value_normalizer = ValueNormalizer().to(self.device) if cfg.value_normalization else None
        scaler = RewardScaler(storage.num_envs, cfg.gamma) if cfg.reward_scaling else None
        self.reward_scaler = scaler.to(self.device) if scaler is not None else None
        check_schedule(cfg.schedule, cfg.schedule_iterations)
        self._lr = torch.tensor(cfg.learning_rate, dtype=torch.float32, device=self.device)
        self.optimizer = make_optimizer(cfg.optimizer, self._trainable_parameters(), self._lr)
        # gradients averaged over the ranks of a multi-process run: the models' and the extensions' (RND predictor)
        self._synced_parameters = [
            *self._trainable_parameters(),
            *(p for e in extensions for p in e.parameters_to_sync()),
        ]
        self._loss_sums = torch.zeros(len(_LOSS_KEYS), device=self.device)
        self.num_skipped_updates = 0
        # Time-out bootstrap without a host read per step (off the CPU, where a read stalls the device): V(final obs)
        # for every env on every step, non-finite values recorded here and raised once, by compute_returns
        self.sync_free_bootstrap = self.device.type != "cpu"
        self._bad_bootstrap = torch.zeros(storage.num_envs, dtype=torch.bool, device=self.device)
        # algorithm.cuda_graphs: the act step and the update as captured graphs (stride/algorithms/ppo_graphs.py)
        self._graphs = PPOGraphs(self) if cfg.cuda_graphs else None

    # ------------------------------------------------------------------------------------------ construction
    @classmethod
    def construct(
        cls,
        obs: Observations,
        num_envs: int,
        num_actions: int,
        num_steps_per_env: int,
        train_cfg: Mapping[str, Any],
        obs_groups: Mapping[str, Sequence[str]],
        device: str | torch.device,
        extensions: Sequence[Extension] = (),
        env: Any = None,
    ) -> PPO:
        """Build models, storage and the algorithm from an rsl_rl-style train_cfg (not modified).

        Extensions named in the algorithm section (``rnd_cfg``, ``symmetry_cfg``) are built first, then
        ``extensions`` (user-made instances) are appended.
        """
        parts = build_ppo_parts(obs, num_envs, num_actions, num_steps_per_env, train_cfg, obs_groups, device, env)
        return cls(parts.actor, parts.critic, parts.storage, parts.cfg, device, [*parts.extensions, *extensions])

    def compile(self, mode: CompileMode | None) -> None:
        """Compile the actor's and the critic's calls of the rollout and the update (rsl_rl's ``alg.compile``).

        Only the routed calls are compiled: ``self.actor`` / ``self.critic`` stay the plain modules, so state dicts,
        checkpoints, export and ``get_policy()`` are those of the eager run. None restores the eager calls.

        Raises:
            ConfigError: If ``mode`` is not one of :data:`~stride.utils.compile.COMPILE_MODES` or None.
        """
        self._actor_params = compiled(self.actor.distribution_params, mode)
        self._critic_value = compiled(self.critic.value, mode)

    def check_trainable(self) -> None:
        """Raise before training when the configuration can build and run a policy but not train it.

        Raises:
            ConfigError: Listing every reason (no actor distribution, mini-batches that do not divide the batch).
        """
        if self._not_trainable:
            raise ConfigError("PPO cannot train with this configuration: " + "; ".join(self._not_trainable) + ".")

    def _trainable_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self._named_trainable_parameters()]

    def _named_trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Actor then critic parameters, each once: encoders shared by both models belong to the actor."""
        return named_trainable_parameters(self.actor, self.critic)

    # ------------------------------------------------------------------------------------------------ rollout
    @property
    def learning_rate(self) -> float:
        """Current learning rate (reads the device value)."""
        return float(self._lr)

    def _precision(self) -> torch.autocast:
        """The models' precision: bfloat16 autocast when ``use_mixed_precision`` (a no-op context otherwise).

        Every forward pass runs under it, the rollout's too: the update then recomputes exactly the rollout's
        log-probabilities and values at its first mini-batch (R15), where a float32 rollout against a bfloat16
        update gave |ratio − 1| up to 1.4e-2 on cartpole (docs/design.md §8.32).
        """
        # autocast's weight-cast cache must be off under CUDA-graph capture (the cached casts would be graph-private)
        return torch.autocast(
            self.device.type,
            dtype=torch.bfloat16,
            enabled=self.cfg.use_mixed_precision,
            cache_enabled=not self.cfg.cuda_graphs,
        )

    def _critic_values(self, obs: Observations) -> torch.Tensor:
        """V(s) in return units (denormalized when value normalization is on). Shape: (N,)."""
        with self._precision():
            values = self._critic_value(obs).float()
        if self.value_normalizer is not None:
            values = self.value_normalizer.denormalize(values)
        return values

    def _peek_values(self, obs: Observations) -> torch.Tensor:
        """V(obs) without advancing a recurrent critic's state (bootstraps look ahead, they are not steps)."""
        hidden = self.critic.get_hidden_state()
        values = self._critic_values(obs)
        if self.critic.is_recurrent:
            self.critic.reset(hidden_state=hidden)
        return values

    def act(self, obs: Observations) -> torch.Tensor:
        """Sample actions for the current observations and record the policy's side of the transition.

        Returns:
            Actions. Shape: (num_envs, num_actions).
        """
        if self._graphs is not None:
            return self._graphs.act(obs)
        return self._act(obs)[0]

    def _act(self, obs: Observations, step: torch.Tensor | None = None) -> tuple[torch.Tensor, Hidden, Hidden]:
        """The act step: actions, and the models' recurrent states after it (None for feed-forward models).

        Args:
            obs: Observations (batch [N]).
            step: Where the storage writes go, as a 1-element device tensor (a captured graph's write); None: the
                storage's own step.
        """
        if self.is_recurrent:
            # the states the models act from, stored so the update can replay each trajectory from its start
            self.storage.add_hidden_states(self.actor.get_hidden_state(), self.critic.get_hidden_state(), step)
        with self._precision():
            params = self._actor_params(obs)
        params = tuple(p.float() for p in params)
        actions = self.distribution.sample(params)
        log_prob = self.distribution.log_prob(params, actions)
        values = self._critic_values(obs)
        self.storage.add_policy_output(obs, actions, log_prob, values, params, step)
        return actions, self.actor.get_hidden_state(), self.critic.get_hidden_state()

    def process_env_step(
        self, obs: Observations, rewards: torch.Tensor, dones: torch.Tensor, extras: Mapping[str, Any]
    ) -> None:
        """Record the env's answer: extension rewards, time-out bootstrap, dones; reset recurrent state."""
        rewards = rewards.to(device=self.device, dtype=torch.float32)
        dones = dones.to(self.device)
        for ext in self.extensions:
            rewards = ext.on_transition(obs, rewards, dones, extras)
        if self.reward_scaler is not None:
            # r / std(discounted return): the critic and the time-out bootstrap below work in these units
            rewards = self.reward_scaler(rewards, dones)
        time_outs = extras.get("time_outs")
        if time_outs is not None:
            rewards = self._bootstrap_time_outs(rewards, time_outs.to(self.device, torch.bool), extras)
        self.storage.add_env_output(rewards, dones)
        self.actor.reset(dones)
        self.critic.reset(dones)

    def compute_returns(self, obs: Observations) -> None:
        """GAE over the stored rollout, bootstrapped with V(obs after the last step).

        Raises:
            NonFiniteError: On the sync-free bootstrap path, if a timed-out env's V(final obs) was NaN/inf during
                the rollout (the one host read of that path).
        """
        self._check_bootstrap()
        st = self.storage
        # V(s_T) bootstraps the last step; a recurrent critic's state is left as it was
        last_values = self._peek_values(obs)
        returns, advantages = compute_gae(st.rewards, st.values, st.dones, last_values, self.cfg.gamma, self.cfg.lam)
        st.returns.copy_(returns)
        if not self.cfg.normalize_advantage_per_mini_batch:
            # multi-process: mean and std over every rank's rollout (None, the rollout's own, in one process)
            advantages = normalize_advantages(advantages, moments=mean_and_std(advantages))
        st.advantages.copy_(advantages)

    # ------------------------------------------------------------------------------------------------- update
    def update(self, iteration: int | None = None) -> dict[str, float]:
        """Epochs × mini-batches of PPO steps; normalizers are updated afterwards from this rollout.

        Args:
            iteration: The runner's iteration number, used in error messages only.

        Returns:
            Mean losses over the applied mini-batches (``value``, ``surrogate``, ``entropy``, ``kl``, extension
            terms) and ``skipped_updates``.

        Raises:
            NonFiniteError: In ``nonfinite_update='raise'`` mode, when a loss term or gradient norm was NaN/inf
                (that mini-batch's step was not applied).
        """
        cfg = self.cfg
        apply_schedule(self._lr, cfg.schedule, cfg.learning_rate, iteration, cfg.schedule_iterations)
        if self._graphs is not None and self._graphs.captures_update:
            bad_all, ext_sums = self._graphs.update()
        else:
            if self.is_recurrent:
                batches = self.storage.recurrent_mini_batch_generator(
                    cfg.num_mini_batches,
                    cfg.num_learning_epochs,
                    (bool(self.actor.is_recurrent), bool(self.critic.is_recurrent)),
                )
            else:
                batches = self.storage.mini_batch_generator(cfg.num_mini_batches, cfg.num_learning_epochs)
            bad_all, ext_sums = self._run_mini_batches(batches)
            self._update_normalizers()
        if self.reward_scaler is not None:
            # under torchrun: this iteration's returns of every rank enter the scaler's statistics (one all-gather)
            self.reward_scaler.sync()
        for ext in self.extensions:
            ext.after_update(self.storage)
        return self._finish_update(bad_all, ext_sums, iteration)

    def _run_mini_batches(self, batches: Iterable[MiniBatch]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The PPO steps of one update; loss sums accumulate on the device in ``_loss_sums``.

        Returns:
            The non-finite flags, shape (num_updates, len(_CHECKED_TERMS)), and the extension losses' sums over
            the applied steps.
        """
        self._loss_sums.zero_()
        ext_sums: dict[str, torch.Tensor] = {}
        flags: list[torch.Tensor] = []
        for batch in batches:
            for ext in self.extensions:
                batch = ext.augment_batch(batch)
            losses, bad, ext_losses = self._update_step(batch)
            skipped = bad.any()
            # a skipped step contributes nothing to the reported means
            self._loss_sums += torch.where(skipped, torch.zeros_like(losses), losses)
            for key, value in ext_losses.items():
                ext_sums[key] = ext_sums.get(key, 0.0) + torch.where(skipped, 0.0, value.detach())
            flags.append(bad)
        return torch.stack(flags), ext_sums

    def _update_step(self, batch: MiniBatch) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One gradient step on one mini-batch.

        Returns:
            Detached (value, surrogate, entropy, kl), the non-finite flags of ``_CHECKED_TERMS``, extension losses.
        """
        cfg = self.cfg
        advantages = batch.advantages
        if cfg.normalize_advantage_per_mini_batch:
            advantages = normalize_advantages(advantages)
        # forward passes under the current parameters (bfloat16 autocast when use_mixed_precision)
        with self._precision():
            # recurrent models replay whole trajectories from their stored initial states (truncated BPTT over
            # the rollout); outputs come back in the (T, M, ...) layout of the batch's other tensors
            actor_hidden, critic_hidden = batch.hidden_states if batch.hidden_states is not None else (None, None)
            params = self._actor_params(batch.observations, batch.masks, actor_hidden)
            values = self._critic_value(batch.observations, batch.masks, critic_hidden)
        params = tuple(p.float() for p in params)
        values = values.float()
        log_prob = self.distribution.log_prob(params, batch.actions)
        # augmentation extensions append transformed samples along the last batch dimension and leave
        # old_dist_params at the originals: entropy, KL and the learning rate see the original samples (as rsl_rl)
        axis = batch.old_log_prob.dim() - 1
        num_original = batch.old_dist_params[0].shape[axis]
        original = tuple(p.narrow(axis, 0, num_original) for p in params)
        entropy = self.distribution.entropy(original).mean()
        returns, old_values = batch.returns, batch.old_values
        if self.value_normalizer is not None:
            # the critic regresses normalized returns; old values are mapped with the same statistics
            returns = self.value_normalizer.normalize(returns)
            old_values = self.value_normalizer.normalize(old_values)
        with torch.no_grad():
            kl = self.distribution.kl(batch.old_dist_params, original).mean()
        surrogate = clipped_surrogate_loss(log_prob, batch.old_log_prob, advantages, cfg.clip_param)
        value_loss = value_function_loss(values, old_values, returns, cfg.clip_param, cfg.use_clipped_value_loss)
        # L = L_clip + c_v·L_V − c_e·H
        loss = surrogate + cfg.value_loss_coef * value_loss - cfg.entropy_coef * entropy
        ext_losses: dict[str, torch.Tensor] = {}
        outputs = {"dist_params": params, "values": values, "original_batch_size": num_original}
        for ext in self.extensions:
            for key, term in ext.extra_loss(batch, outputs).items():
                ext_losses[key] = term
                loss = loss + term
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # multi-process: one all-reduce averages the gradients and these terms over the ranks (no-op in one process)
        terms = all_reduce_gradients(
            self._synced_parameters, torch.stack([value_loss.detach(), surrogate.detach(), entropy.detach(), kl])
        )
        # KL(π_old || π_θ) of this mini-batch drives the adaptive learning rate of this step, as in rsl_rl
        if cfg.schedule == "adaptive" and cfg.desired_kl is not None:
            self._lr.copy_(adaptive_learning_rate(self._lr, terms[3], cfg.desired_kl))
        # gradient norms (clipped per network when max_grad_norm is set, as rsl_rl does)
        max_norm = cfg.max_grad_norm if cfg.max_grad_norm is not None else float("inf")
        actor_norm = nn.utils.clip_grad_norm_(self.actor.parameters(), max_norm, foreach=True)
        critic_norm = nn.utils.clip_grad_norm_(self.critic.parameters(), max_norm, foreach=True)
        checked = torch.stack([terms[1], terms[0], terms[2], actor_norm, critic_norm])
        bad = ~torch.isfinite(checked)
        skipped = bad.any()
        step_unless(self.optimizer, skipped)
        for ext in self.extensions:
            ext.after_optimizer_step(skipped)
        return terms, bad, ext_losses

    @torch.no_grad()
    def _update_normalizers(self) -> None:
        """Update the models' normalizer statistics from this iteration's rollout (DESIGN decision 1).

        The extensions' ``after_update`` follows, in :meth:`update`.
        """
        obs = self.storage.observations
        self.actor.update_normalization(obs)
        self.critic.update_normalization(obs)
        if self.value_normalizer is not None:
            self.value_normalizer.update(self.storage.returns.reshape(-1))

    def _finish_update(
        self, bad_all: torch.Tensor, ext_sums: Mapping[str, torch.Tensor], iteration: int | None
    ) -> dict[str, float]:
        """The update's one host read: mean losses over the applied steps, or the error of a non-finite step.

        Raises:
            NonFiniteError: In ``nonfinite_update='raise'`` mode, when a step was not finite.
        """
        cfg = self.cfg
        num_updates = bad_all.shape[0]
        # the one host read of the update: loss sums, the extensions' sums and the non-finite flags together (float64
        # holds each source's values exactly)
        ext_keys = list(ext_sums)
        parts = [self._loss_sums, *(ext_sums[k].reshape(1) for k in ext_keys), bad_all.flatten()]
        host = torch.cat([p.to(torch.float64) for p in parts]).tolist()
        num_sums = len(_LOSS_KEYS) + len(ext_keys)
        sums, ext_values, bad_rows = host[: len(_LOSS_KEYS)], host[len(_LOSS_KEYS) : num_sums], host[num_sums:]
        bad_steps = [
            i for i in range(num_updates) if any(bad_rows[i * len(_CHECKED_TERMS) : (i + 1) * len(_CHECKED_TERMS)])
        ]
        if bad_steps and cfg.nonfinite_update == "raise":
            first = bad_steps[0]
            terms = [t for j, t in enumerate(_CHECKED_TERMS) if bad_rows[first * len(_CHECKED_TERMS) + j]]
            where = f" of iteration {iteration}" if iteration is not None else ""
            self.storage.clear()
            raise NonFiniteError(
                f"non-finite {', '.join(terms)} in mini-batch {first % cfg.num_mini_batches} of epoch "
                f"{first // cfg.num_mini_batches}{where} ({len(bad_steps)} of {num_updates} mini-batches affected); "
                "those steps were not applied. Check rewards and observations for extreme values, lower the learning "
                "rate, or set algorithm.nonfinite_update='skip' to skip such steps."
            )
        applied = max(num_updates - len(bad_steps), 1)
        self.num_skipped_updates += len(bad_steps)
        result: dict[str, float] = {k: v / applied for k, v in zip(_LOSS_KEYS, sums, strict=True)}
        for key, value in zip(ext_keys, ext_values, strict=True):
            result[key] = value / applied
        result["skipped_updates"] = float(len(bad_steps))
        self.storage.clear()
        return result

    # --------------------------------------------------------------------------------------------- modes, I/O
    def train_mode(self) -> None:
        """Put the models in training mode."""
        self.actor.train()
        self.critic.train()

    def eval_mode(self) -> None:
        """Put the models in evaluation mode."""
        self.actor.eval()
        self.critic.eval()

    def get_policy(self) -> MLPModel:
        """The actor (its ``forward(obs)`` gives deterministic actions)."""
        return self.actor

    @property
    def rnd(self) -> Extension | None:
        """The RND extension (rsl_rl's ``alg.rnd``: ``predictor``, ``target``, ``optimizer``), or None."""
        return next((ext for ext in self.extensions if ext.name == "rnd"), None)

    def action_std(self) -> torch.Tensor:
        """Mean spread of the actions taken in the stored rollout (0-d tensor)."""
        return self.distribution.std(self.storage.dist_params).mean()
