"""What SAC and TD3 share: replay, n-step targets, clipped double Q (scalar or C51), target networks, the update loop.

Beside it: the pure target and loss maths (``off_policy_targets.py``), the checkpoint state
(``off_policy_checkpoint.py``), the construction from a config (``off_policy_build.py``) and the normalizers'
feeding (``off_policy_normalization.py``).

Reference:
    Fujimoto et al. "Addressing Function Approximation Error in Actor-Critic Methods." ICML 2018.
    Seo et al. "FastTD3: Simple, Fast, and Capable Reinforcement Learning for Humanoid Control." arXiv:2505.22642.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from stride.algorithms.off_policy_build import build_off_policy_parts
from stride.algorithms.off_policy_checkpoint import OffPolicyCheckpoint
from stride.algorithms.off_policy_graphs import OffPolicyGraphs
from stride.algorithms.off_policy_normalization import ObservationMoments
from stride.algorithms.off_policy_targets import (
    clipped_categorical_target,
    clipped_double_q_target,
    ensemble_critic_loss,
    polyak_update,
)
from stride.config.off_policy import OffPolicyCfg
from stride.config.strict import to_dict
from stride.extensions.base import Extension
from stride.models.mlp_model import Observations
from stride.models.q_model import QModel
from stride.models.tanh_actor import TanhActor
from stride.modules.normalization import EmpiricalNormalization
from stride.storage.replay_buffer import ReplayBatch, ReplayBuffer
from stride.utils.compile import CompileMode, compiled
from stride.utils.distributed import all_reduce_gradients
from stride.utils.errors import NonFiniteError
from stride.utils.optim import make_optimizer, step_unless

__all__ = ["OffPolicyAlgorithm"]


class OffPolicyAlgorithm(OffPolicyCheckpoint):
    """Base of SAC and TD3: acting, storing, sampling and the update loop; subclasses write one gradient step.

    Args:
        actor: The tanh actor (reads the ``actor`` observation set).
        critic: The Q model (reads the ``critic`` observation set).
        buffer: Replay buffer sized for the env batch.
        cfg: Algorithm settings.
        num_steps_per_env: Env steps per iteration (the update count is ``num_updates_per_step`` times this).
        device: Where models and buffer live.
        extensions: Hooks on replay batches and the actor's loss (symmetry).
    """

    cfg_class: ClassVar[type[OffPolicyCfg]] = OffPolicyCfg
    """The config dataclass of the algorithm section."""

    stochastic_actor: ClassVar[bool] = True
    """Whether the actor outputs a Gaussian before the tanh (SAC) or a point (TD3)."""

    loss_keys: ClassVar[tuple[str, ...]] = ("critic", "actor")
    """Names of the loss terms :meth:`_update_step` returns, in order (logged as ``Loss/<name>``)."""

    stat_keys: ClassVar[tuple[str, ...]] = ("q_mean",)
    """Names of the statistics :meth:`_update_step` returns after the losses (logged as ``Policy/<name>``)."""

    def __init__(
        self,
        actor: TanhActor,
        critic: QModel,
        buffer: ReplayBuffer,
        cfg: OffPolicyCfg,
        num_steps_per_env: int,
        device: str | torch.device = "cpu",
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.extensions = list(extensions)
        self.actor = actor.to(self.device)
        self.critic = critic.to(self.device)
        self.buffer = buffer
        self.num_steps_per_env = num_steps_per_env
        self.num_actions = actor.num_actions
        # the target critic is a copy of the Q-networks; it reads observations through the online normalizer
        self.critic_target = copy.deepcopy(self.critic.head).requires_grad_(False)
        actor_lr = torch.tensor(cfg.actor_learning_rate, device=self.device)
        critic_lr = torch.tensor(cfg.critic_learning_rate, device=self.device)
        self.actor_optimizer = make_optimizer(cfg.optimizer, list(self.actor.parameters()), actor_lr)
        self.critic_optimizer = make_optimizer(cfg.optimizer, list(self.critic.parameters()), critic_lr)
        # each optimizer's tensor learning rate, by its checkpoint key (kept shared when a state is loaded)
        self._learning_rates: dict[str, torch.Tensor] = {
            "actor_optimizer_state_dict": actor_lr,
            "critic_optimizer_state_dict": critic_lr,
        }
        self.num_updates = 0
        """Gradient steps made so far (critic steps; drives TD3's delayed actor updates)."""
        self.num_skipped_updates = 0
        self.last_stats: dict[str, float] = {}
        self.sections: dict[str, Any] = {"algorithm": to_dict(cfg)}
        """The config sections with every default filled in (``construct`` adds actor and critic)."""
        self._acted = False
        # the normalizers take every stored step (under torchrun: merged across ranks once per iteration)
        self._moments = ObservationMoments(
            [
                (model.obs_normalizer, model.select)
                for model in (self.actor, self.critic)
                if isinstance(model.obs_normalizer, EmpiricalNormalization)
            ]
        )
        # the hot-path calls: these bound methods, or their torch.compile versions after `compile`
        self._explore_call: Callable[[Observations, torch.Tensor], torch.Tensor] = self._explore_actions
        self._critic_call: Callable[
            [ReplayBatch, torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]
        ] = self._critic_objective
        self._actor_call: Callable[
            [Observations, torch.Tensor | None, torch.Tensor | None],
            tuple[torch.Tensor, torch.Tensor | None, torch.Tensor],
        ] = self._actor_objective
        # algorithm.cuda_graphs: the gradient step and the act step as captured graphs (off_policy_graphs.py)
        self._graphs = OffPolicyGraphs(self) if cfg.cuda_graphs else None

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
        env: Any = None,
        **_: Any,
    ) -> OffPolicyAlgorithm:
        """Build actor, critic, replay buffer, extensions and the algorithm from an rsl_rl-style train_cfg.

        See :func:`~stride.algorithms.off_policy_build.build_off_policy_parts`; ``train_cfg`` is not modified.

        Raises:
            ConfigError: On an unknown key, an invalid value, or a buffer too small for ``n_step``.
        """
        parts = build_off_policy_parts(
            cls.cfg_class,
            cls.stochastic_actor,
            obs,
            num_envs,
            num_actions,
            num_steps_per_env,
            train_cfg,
            obs_groups,
            device,
            env,
        )
        algorithm = cls(parts.actor, parts.critic, parts.buffer, parts.cfg, num_steps_per_env, device, parts.extensions)
        algorithm.sections = parts.sections
        return algorithm

    # ------------------------------------------------------------------------------------------------ rollout
    def compile(self, mode: CompileMode | None) -> None:
        """Compile the act step's policy call and the update's two objectives (rsl_rl's ``torch_compile_mode``).

        Compiled: :meth:`_explore_actions` (collection), :meth:`_critic_objective` (target and critic loss) and
        :meth:`_actor_objective` (actor loss); their backward passes go through AOTAutograd. Random draws, the
        backward call, the gradient all-reduce, clipping, the optimizer steps, the Polyak updates, SAC's α step and the
        extensions' losses stay eager, so a compiled run draws the eager run's random numbers and follows it up to
        float rounding. ``self.actor`` / ``self.critic`` stay the plain modules (checkpoints, export). None restores
        the eager calls.

        Raises:
            ConfigError: If ``mode`` is not one of :data:`~stride.utils.compile.COMPILE_MODES` or None.
        """
        self._explore_call = compiled(self._explore_actions, mode)
        self._critic_call = compiled(self._critic_objective, mode)
        self._actor_call = compiled(self._actor_objective, mode)

    def _noise(self, rows: int) -> torch.Tensor:
        """ε ~ N(0, I), drawn eagerly from torch's generator (compiled graphs get it as an input). Shape: (rows, A)."""
        return torch.randn(rows, self.num_actions, device=self.device)

    def _explore(self, obs: Observations) -> torch.Tensor:
        """The exploration policy's actions in [-1, 1]. Shape: (num_envs, num_actions)."""
        return self._explore_call(obs, self._noise(self.buffer.num_envs))

    def _explore_actions(self, obs: Observations, noise: torch.Tensor) -> torch.Tensor:
        """The exploration policy's actions given the standard normal ``noise``. Shape: (num_envs, num_actions)."""
        raise NotImplementedError

    def act(self, obs: Observations) -> torch.Tensor:
        """Actions to take: uniform in [-1, 1] until ``learning_starts`` steps are stored, then the exploration policy.

        Returns:
            Actions in [-1, 1]. Shape: (num_envs, num_actions).
        """
        if self.buffer.size < self.cfg.learning_starts:
            actions = torch.rand(self.buffer.num_envs, self.num_actions, device=self.device) * 2.0 - 1.0
        else:
            actions = self._explore(obs) if self._graphs is None else self._graphs.explore(obs)
        self.buffer.add_policy_step(obs, actions)
        self._acted = True
        return actions

    def process_env_step(
        self, obs: Observations, rewards: torch.Tensor, dones: torch.Tensor, extras: Mapping[str, Any]
    ) -> None:
        """Store the transition; an ended episode keeps its final observation (time-outs bootstrap from it).

        Without ``extras["final_obs"]`` a timed-out env bootstraps from the observation it acted on (rsl_rl's
        V(s_t) rule, here Q(s_t, ·)); terminated envs never bootstrap, so their next observation is unused.
        """
        if not self._acted:
            raise RuntimeError("process_env_step() called before act()")
        dones = dones.to(self.device, torch.bool)
        time_outs = extras.get("time_outs")
        timed_out = (
            time_outs.to(self.device, torch.bool) if time_outs is not None else torch.zeros_like(dones)
        ) & dones
        terminated = dones & ~timed_out
        final_obs = extras.get("final_obs")
        next_obs: dict[str, torch.Tensor] = {}
        for g in self.buffer.groups:
            ended = final_obs[g].to(self.device) if final_obs is not None else self.buffer.pending_observations(g)
            mask = dones if final_obs is not None else timed_out
            next_obs[g] = torch.where(mask.view(-1, *([1] * (obs[g].dim() - 1))), ended, obs[g])
        self.buffer.add_env_step(rewards.to(torch.float32), dones, terminated, next_obs)
        # normalizer statistics follow every stored observation (under torchrun: merged at the next update)
        self._moments.add(obs)
        self._acted = False

    def compute_returns(self, obs: Observations) -> None:
        """Nothing to do: n-step returns are folded when a batch is sampled."""

    # ------------------------------------------------------------------------------------------------- update
    def _ready(self) -> bool:
        """Whether enough steps are stored to start updating."""
        return (
            self.buffer.size >= max(self.cfg.learning_starts, 1) and self.buffer.num_valid_starts(self.cfg.n_step) > 0
        )

    def update(self, iteration: int | None = None) -> dict[str, float]:
        """``num_updates_per_step × num_steps_per_env`` gradient steps on sampled batches; one host read at the end.

        Args:
            iteration: The runner's iteration number, used in error messages only.

        Returns:
            Mean losses over the applied steps (``loss_keys``) and ``skipped_updates``; before ``learning_starts``
            every loss is 0 and no step is made.

        Raises:
            NonFiniteError: In ``nonfinite_update='raise'`` mode, when a loss or gradient norm was NaN/inf (those
                steps were not applied).
        """
        cfg = self.cfg
        # under torchrun: the iteration's stored steps enter the normalizers of every rank (one all-gather)
        self._moments.flush()
        num_keys = len(self.loss_keys) + len(self.stat_keys)
        if not self._ready():
            self.last_stats = {"num_updates": 0.0}
            return {**dict.fromkeys(self.loss_keys, 0.0), "skipped_updates": 0.0}
        steps = cfg.num_updates_per_step * self.num_steps_per_env
        sums, presence, flags = self._gradient_steps(steps)
        # the one host read of the update: sums and flags together
        host = torch.cat([sums, torch.stack(flags).to(sums.dtype), self._host_extras()]).tolist()
        bad_steps = [i for i, f in enumerate(host[num_keys : num_keys + steps]) if f]
        if bad_steps and cfg.nonfinite_update == "raise":
            where = f" of iteration {iteration}" if iteration is not None else ""
            raise NonFiniteError(
                f"non-finite loss or gradient norm in update step {bad_steps[0]}{where} ({len(bad_steps)} of {steps} "
                "steps affected); those steps were not applied. Check rewards and observations for extreme values, "
                "lower the learning rates, or set algorithm.nonfinite_update='skip' to skip such steps."
            )
        self.num_skipped_updates += len(bad_steps)
        bad_set = set(bad_steps)
        applied = [max(sum(p[k] for i, p in enumerate(presence) if i not in bad_set), 1) for k in range(num_keys)]
        means = [s / n for s, n in zip(host[:num_keys], applied, strict=True)]
        result = dict(zip(self.loss_keys, means[: len(self.loss_keys)], strict=True))
        result["skipped_updates"] = float(len(bad_steps))
        extras = host[num_keys + steps :]
        self.last_stats = {
            **dict(zip(self.stat_keys, means[len(self.loss_keys) :], strict=True)),
            **self._named_host_extras(extras),
            "num_updates": float(steps - len(bad_steps)),
        }
        return result

    def _gradient_steps(self, steps: int) -> tuple[torch.Tensor, list[list[bool]], list[torch.Tensor]]:
        """The device part of :meth:`update`: ``steps`` sampled batches and gradient steps, without a host read.

        Returns:
            ``(sums, presence, flags)``: the loss terms and statistics summed over the applied steps (shape
            ``(len(loss_keys) + len(stat_keys),)``), per step the host list of the terms it produced, and per step
            its skip flag (0-d bool).
        """
        cfg, graphs = self.cfg, self._graphs
        step: Callable[[], tuple[list[bool], torch.Tensor]]
        if graphs is None:
            sums = torch.zeros(len(self.loss_keys) + len(self.stat_keys), device=self.device)

            def step() -> tuple[list[bool], torch.Tensor]:
                return self._train_on(self.buffer.sample(cfg.batch_size, cfg.n_step, cfg.gamma), sums)

        else:  # algorithm.cuda_graphs: the same steps, each one graph replay
            sums, step = graphs.start_update(), graphs.step
        presence: list[list[bool]] = []  # host-side: which steps produced which terms (TD3's actor is delayed)
        flags: list[torch.Tensor] = []
        for _ in range(steps):
            present, skipped = step()
            presence.append(present)
            flags.append(skipped)
            self.num_updates += 1
        for ext in self.extensions:
            ext.after_update(self.buffer)
        return sums, presence, flags

    def _train_on(self, batch: ReplayBatch, sums: torch.Tensor) -> tuple[list[bool], torch.Tensor]:
        """One gradient step (eager and graphed); ``sums`` += its terms if applied. Returns ``(present, bad.any())``."""
        batch = batch.to(self.device)
        # augmentation extensions append transformed copies after the batch_size original rows
        for ext in self.extensions:
            batch = ext.augment_replay_batch(batch)
        values, present, bad = self._update_step(batch, self.cfg.batch_size)
        skipped = bad.any()
        sums += torch.where(skipped, torch.zeros_like(values), values)
        return present, skipped

    def _actor_due(self) -> bool:
        """Whether the next gradient step updates the actor (a host decision; TD3 delays it)."""
        return True

    def _host_extras(self) -> torch.Tensor:
        """Device values read together with the losses (e.g. SAC's α). Shape: (k,)."""
        return torch.zeros(0, device=self.device)

    def _named_host_extras(self, values: list[float]) -> dict[str, float]:
        """Names of :meth:`_host_extras`' values."""
        return {}

    def _update_step(self, batch: ReplayBatch, num_original: int) -> tuple[torch.Tensor, list[bool], torch.Tensor]:
        """One gradient step.

        Args:
            batch: The sampled batch, with any augmentation extension's copies after its first ``num_original`` rows.
            num_original: Rows sampled from the buffer (``batch_size``).

        Returns:
            ``(values, present, bad)``: detached loss terms then statistics (``loss_keys + stat_keys``), a host
            list saying which of them this step produced, and the non-finite flags of the step's checked terms.
        """
        raise NotImplementedError

    def _critic_objective(
        self, batch: ReplayBatch, noise: torch.Tensor, alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The critic's loss on ``batch``, target included (compiled with ``torch_compile_mode``).

        Args:
            batch: The (augmented) batch.
            noise: Standard normal draws for the bootstrap actions (SAC's a' ~ π, TD3's smoothing). Shape: (B, A).
            alpha: SAC's temperature α (0-d tensor, a graph input so its changes never recompile); None for TD3.

        Returns:
            ``(loss, q_mean)`` as :meth:`_critic_loss`.
        """
        raise NotImplementedError

    def _actor_objective(
        self, obs: Observations, noise: torch.Tensor | None, alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """The actor's loss (compiled with ``torch_compile_mode``); called with the critic's parameters frozen.

        Args:
            obs: Observations of the (augmented) batch.
            noise: SAC's standard normal draws for a ~ π(·|s) (shape (B, A)); None for TD3.
            alpha: SAC's temperature α (0-d tensor); None for TD3.

        Returns:
            ``(loss, log_prob, mean_actions)``: the loss, SAC's log π(a|s) (shape (B,); None for TD3), and
            tanh(μ(s)) with gradient (shape (B, A); the extensions' mirror loss reads it).
        """
        raise NotImplementedError

    def _actor_forward(
        self, obs: Observations, noise: torch.Tensor | None, alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """:meth:`_actor_objective` with the critic out of the graph: L_π's gradient reaches the actions only."""
        self.critic.requires_grad_(False)
        try:
            return self._actor_call(obs, noise, alpha)
        finally:
            self.critic.requires_grad_(True)

    def _autocast(self) -> torch.autocast:
        cfg = self.cfg  # autocast's weight cache is off under CUDA-graph capture (its casts would be graph-private)
        return torch.autocast(self.device.type, torch.bfloat16, cfg.use_mixed_precision, not cfg.cuda_graphs)

    # ---------------------------------------------------------------------------------------------- critic
    def _critic_target(
        self, batch: ReplayBatch, next_actions: torch.Tensor, next_bonus: torch.Tensor | None
    ) -> torch.Tensor:
        """The critic's regression target, without gradient: clipped double Q on the target critic's outputs.

        Scalar Q: :func:`~stride.algorithms.off_policy_targets.clipped_double_q_target`; C51:
        :func:`~stride.algorithms.off_policy_targets.clipped_categorical_target`.

        Args:
            batch: The sampled batch.
            next_actions: a' at the bootstrap observations. Shape: (B, A).
            next_bonus: SAC's −α·log π(a'|s'), or None. Shape: (B,).

        Returns:
            y of shape (B,) (scalar critic) or target probabilities of shape (B, num_atoms) (C51).
        """
        with torch.no_grad(), self._autocast():
            out = self.critic_target(self.critic.latent(batch.next_observations), next_actions).float()
        bonus = next_bonus if next_bonus is not None else torch.zeros_like(batch.discounts)
        if self.critic.num_atoms == 1:
            return clipped_double_q_target(out.squeeze(-1), batch.returns, batch.discounts, bonus)
        critic = self.critic
        return clipped_categorical_target(
            out, critic.support, batch.returns, batch.discounts, bonus, critic.v_min, critic.v_max
        )

    def _critic_loss(self, batch: ReplayBatch, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Σ_e of each member's loss (:func:`~stride.algorithms.off_policy_targets.ensemble_critic_loss`).

        Returns:
            ``(loss, q_mean)``: the loss and the mean Q of the batch's actions (a statistic, detached).
        """
        with self._autocast():
            out = self.critic.head(self.critic.latent(batch.observations), batch.actions)
        out = out.float()
        q = out.squeeze(-1) if self.critic.num_atoms == 1 else self.critic.expected(out)  # (E, B)
        return ensemble_critic_loss(out, target), q.mean().detach()

    def _critic_step(self, loss: torch.Tensor) -> torch.Tensor:
        """The critic's gradient step on ``loss`` (unless non-finite) and the Polyak update of the target critic.

        Returns:
            The non-finite flag (0-d bool).
        """
        bad = self._step(self.critic_optimizer, self.critic, loss)
        polyak_update(self.critic_target.parameters(), self.critic.head.parameters(), self.cfg.tau)
        return bad

    def _step(self, optimizer: torch.optim.Optimizer, model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
        """Backward, optional clipping, and the optimizer step unless the loss or gradient norm is non-finite.

        Under torchrun the gradients and the loss are averaged over the ranks in one flat all-reduce before the
        check, so every rank takes (or skips) the same step; in one process the hook returns at once.
        """
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        # multi-process: ∇ and L averaged over the ranks = those of the mean loss over the union of their batches
        mean_loss = all_reduce_gradients(parameters, loss.detach().reshape(1))
        bad = ~torch.isfinite(mean_loss).all()
        if self.cfg.max_grad_norm is not None:
            norm = nn.utils.clip_grad_norm_(model.parameters(), self.cfg.max_grad_norm, foreach=True)
            bad = bad | ~torch.isfinite(norm)
        step_unless(optimizer, bad)
        return bad

    def _actor_step(
        self, batch: ReplayBatch, loss: torch.Tensor, mean_actions: torch.Tensor, num_original: int
    ) -> torch.Tensor:
        """The actor's gradient step on ``loss`` plus the extensions' actor losses (the mirror loss).

        Args:
            batch: The (augmented) batch the loss was computed on.
            loss: The algorithm's actor loss.
            mean_actions: tanh(μ(s)) for every row of ``batch``, with gradient. Shape: (B, A).
            num_original: Rows before augmentation.

        Returns:
            The step's non-finite flag (0-d bool); the step was not applied when it is set.
        """
        outputs = {"mean_actions": mean_actions, "original_batch_size": num_original}
        for ext in self.extensions:
            for term in ext.extra_actor_loss(batch, outputs).values():
                loss = loss + term
        bad = self._step(self.actor_optimizer, self.actor, loss)
        for ext in self.extensions:
            ext.after_optimizer_step(bad)
        return bad

    def _actor_q(self, obs: Observations, actions: torch.Tensor) -> torch.Tensor:
        """Q of the actor's actions for every member (inside :meth:`_actor_forward`: gradient to the actions only).

        Shape: (E, B).
        """
        with self._autocast():
            out = self.critic.head(self.critic.latent(obs), actions)
        return self.critic.expected(out.float())

    # -------------------------------------------------------------------------------------------------- modes
    def train_mode(self) -> None:
        """Put the models in training mode."""
        self.actor.train()
        self.critic.train()

    def eval_mode(self) -> None:
        """Put the models in evaluation mode."""
        self.actor.eval()
        self.critic.eval()

    def get_policy(self) -> TanhActor:
        """The actor (``forward(obs)`` gives the deterministic action tanh(μ(s)))."""
        return self.actor
