"""Configuration dataclasses of the off-policy learners (SAC, TD3) and their Q model, in rsl_rl v5's dict format.

An ``OffPolicyRunner`` config has the runner keys of ``RunnerCfg`` and three sections: ``algorithm`` (``SACCfg`` or
``TD3Cfg``, chosen by ``class_name``), ``actor`` (``MLPModelCfg`` keys: the actor's MLP, tanh-squashed by the
algorithm) and ``critic`` (``QModelCfg``). The tables in docs/configuration.md mirror these docstrings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from stride.config.schema import MLPModelCfg, OptimizerName, _require
from stride.config.strict import suggest

__all__ = ["OFF_POLICY_ALGORITHMS", "OffPolicyCfg", "QModelCfg", "SACCfg", "TD3Cfg", "check_actor_section"]

OFF_POLICY_ALGORITHMS = ("SAC", "TD3")
"""The ``algorithm.class_name`` values the OffPolicyRunner accepts."""


@dataclass(kw_only=True)
class QModelCfg:
    """The off-policy critic: observation groups → optional normalizer → an ensemble of Q-networks over (s, a)."""

    class_name: str = "QModel"
    """Model class: ``"QModel"``."""

    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden layer widths of each Q-network, each >= 1."""

    activation: str = "relu"
    """Hidden activation (the names of ``MLPModelCfg.activation``)."""

    obs_normalization: bool = False
    """Normalize the critic's observation with running mean/std (updated with every stored step)."""

    num_critics: int = 2
    """Q-networks in the ensemble, >= 1; targets use the minimum over them (clipped double Q when 2)."""

    layer_norm: bool = False
    """LayerNorm before each hidden activation (FastTD3's option for large batches and high update ratios)."""

    num_atoms: int = 1
    """1: a scalar Q per network. > 1: a C51 distributional critic with this many atoms on [v_min, v_max]."""

    v_min: float = -10.0
    """Lowest return of the C51 support (used when num_atoms > 1); choose it below the task's lowest return."""

    v_max: float = 10.0
    """Highest return of the C51 support (used when num_atoms > 1), > v_min."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a value is outside its documented range.
        """
        _require(self.class_name == "QModel", path, "class_name", f"must be 'QModel', got {self.class_name!r}.")
        _require(len(self.hidden_dims) > 0, path, "hidden_dims", "must list at least one layer width.")
        for width in self.hidden_dims:
            _require(width >= 1, path, "hidden_dims", f"widths must be >= 1, got {width}.")
        _require(self.num_critics >= 1, path, "num_critics", f"must be >= 1, got {self.num_critics}.")
        _require(self.num_atoms >= 1, path, "num_atoms", f"must be >= 1, got {self.num_atoms}.")
        _require(
            math.isfinite(self.v_min) and math.isfinite(self.v_max) and self.v_max > self.v_min,
            path,
            "v_max",
            f"must be finite and > v_min, got v_min={self.v_min}, v_max={self.v_max}.",
        )


def check_actor_section(cfg: MLPModelCfg, path: str) -> None:
    """The off-policy actor is an MLP squashed by tanh: no distribution config, an MLP class.

    Raises:
        ConfigError: If ``class_name`` is not ``MLPModel`` or ``distribution_cfg`` is set.
    """
    _require(
        cfg.class_name in ("MLPModel", "TanhActor"),
        path,
        "class_name",
        f"must be 'MLPModel' for SAC/TD3 (the algorithm adds the tanh head), got {cfg.class_name!r}.",
    )
    _require(
        cfg.distribution_cfg is None,
        path,
        "distribution_cfg",
        "must be None for SAC/TD3: SAC's actor outputs a tanh-squashed Gaussian and TD3's a tanh point, built in.",
    )


@dataclass(kw_only=True)
class OffPolicyCfg:
    """What SAC and TD3 share: replay, n-step targets, target networks, optimizers, update ratio."""

    class_name: str = "SAC"
    """Algorithm class: ``"SAC"`` or ``"TD3"``."""

    gamma: float = 0.99
    """Discount factor γ in (0, 1]."""

    n_step: int = 1
    """n of the n-step return, >= 1: G = Σ_{k<m} γ^k r_{t+k} + γ^m Q(s_{t+m}), the window cut at the first done
    (bootstrapped on a time-out, not on a termination)."""

    batch_size: int = 256
    """Transitions per gradient step, >= 1 (drawn uniformly over envs and stored steps)."""

    num_updates_per_step: int = 1
    """Gradient steps per env step (per ``env.step`` of all envs), >= 1; an iteration makes
    ``num_updates_per_step × num_steps_per_env`` of them."""

    buffer_size: int = 1_000_000
    """Replay capacity in transitions, all envs together; each env keeps ``buffer_size // num_envs`` steps (at least
    ``n_step``), preallocated on the training device."""

    learning_starts: int = 10
    """Steps per env taken with uniformly random actions before the first update, >= 0 (at least ``n_step`` steps
    are stored before updating, whatever this value)."""

    tau: float = 0.005
    """Polyak rate of the target networks, in (0, 1]: θ' ← (1 − τ)·θ' + τ·θ after every critic step."""

    actor_learning_rate: float = 3e-4
    """Learning rate of the actor, > 0."""

    critic_learning_rate: float = 3e-4
    """Learning rate of the critic, > 0 (logged as ``Policy/learning_rate``)."""

    optimizer: OptimizerName = "adam"
    """Optimizer of actor and critic."""

    max_grad_norm: float | None = None
    """Gradient-norm clip per network, > 0; None disables clipping."""

    use_mixed_precision: bool = False
    """Run the update's forward passes under bfloat16 autocast (losses and targets in float32)."""

    nonfinite_update: Literal["raise", "skip"] = "raise"
    """A gradient step whose loss or gradient norm is NaN/inf is never applied. 'raise': stop with a
    ``NonFiniteError`` after the iteration's updates; 'skip': count it (``Train/skipped_updates``) and go on."""

    replay_device: str | None = None
    """Device of the replay buffer, e.g. ``"cpu"`` to keep a large buffer in host memory while training on a GPU
    (each sampled batch is then copied to the training device); None: the training device."""

    save_replay_buffer: bool = False
    """Store the replay buffer in checkpoints (large: obs and next obs of every transition); needed for an exact
    resume. Without it a loaded run refills the buffer (random actions for ``learning_starts`` steps again)."""

    symmetry_cfg: dict[str, Any] | None = None
    """Symmetry augmentation / mirror loss on replay batches (rsl_rl's ``symmetry_cfg`` keys, see ``SymmetryCfg``);
    None disables it."""

    cuda_graphs: bool = False
    """(stride) Capture the update's gradient step (replay gather, n-step fold, critic, actor and α objectives and
    steps, target updates; TD3: one graph with and one without the delayed actor step) and the policy's act step as
    CUDA graphs once warmed up, and replay them. Replay indices are drawn eagerly into static tensors before each
    replay. Single process, fused optimizer, replay buffer on the training device. On a CPU device the same
    static-buffer code runs eagerly (eager results, no speed-up)."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a value is outside its documented range.
        """
        _require(
            self.class_name in OFF_POLICY_ALGORITHMS,
            path,
            "class_name",
            f"must be 'SAC' or 'TD3' for the OffPolicyRunner, got {self.class_name!r}"
            f"{suggest(self.class_name, OFF_POLICY_ALGORITHMS)}.",
        )
        _require(0 < self.gamma <= 1, path, "gamma", f"must be in (0, 1], got {self.gamma}.")
        _require(self.n_step >= 1, path, "n_step", f"must be >= 1, got {self.n_step}.")
        _require(self.batch_size >= 1, path, "batch_size", f"must be >= 1, got {self.batch_size}.")
        _require(
            self.num_updates_per_step >= 1,
            path,
            "num_updates_per_step",
            f"must be >= 1, got {self.num_updates_per_step}.",
        )
        _require(self.buffer_size >= 1, path, "buffer_size", f"must be >= 1, got {self.buffer_size}.")
        _require(self.learning_starts >= 0, path, "learning_starts", f"must be >= 0, got {self.learning_starts}.")
        _require(0 < self.tau <= 1, path, "tau", f"must be in (0, 1], got {self.tau}.")
        for key in ("actor_learning_rate", "critic_learning_rate"):
            value = getattr(self, key)
            _require(value > 0 and math.isfinite(value), path, key, f"must be > 0, got {value}.")
        if self.max_grad_norm is not None:
            _require(self.max_grad_norm > 0, path, "max_grad_norm", f"must be > 0 or None, got {self.max_grad_norm}.")


@dataclass(kw_only=True)
class SACCfg(OffPolicyCfg):
    """Soft Actor-Critic: tanh-squashed Gaussian actor, clipped double Q, auto-tuned entropy temperature α."""

    class_name: str = "SAC"
    """Algorithm class: ``"SAC"``."""

    init_alpha: float = 1.0
    """Initial entropy temperature α, > 0."""

    auto_alpha: bool = True
    """Tune α by gradient descent on J(α) = E[−α·(log π(a|s) + H̄)]; false keeps ``init_alpha``."""

    target_entropy: float | None = None
    """H̄, the entropy α is tuned towards; None: −num_actions."""

    alpha_learning_rate: float = 3e-4
    """Learning rate of log α, > 0."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a value is outside its documented range.
        """
        super().validate(path)
        _require(self.class_name == "SAC", path, "class_name", f"must be 'SAC', got {self.class_name!r}.")
        _require(
            self.init_alpha > 0 and math.isfinite(self.init_alpha),
            path,
            "init_alpha",
            f"must be > 0, got {self.init_alpha}.",
        )
        _require(
            self.alpha_learning_rate > 0 and math.isfinite(self.alpha_learning_rate),
            path,
            "alpha_learning_rate",
            f"must be > 0, got {self.alpha_learning_rate}.",
        )
        if self.target_entropy is not None:
            _require(
                math.isfinite(self.target_entropy),
                path,
                "target_entropy",
                f"must be finite or None, got {self.target_entropy}.",
            )


@dataclass(kw_only=True)
class TD3Cfg(OffPolicyCfg):
    """Twin Delayed DDPG: deterministic tanh actor, clipped double Q, target policy smoothing, delayed actor."""

    class_name: str = "TD3"
    """Algorithm class: ``"TD3"``."""

    policy_delay: int = 2
    """Critic steps per actor (and target actor) step, >= 1."""

    target_policy_noise: float = 0.2
    """Std of the Gaussian noise on the target action (target policy smoothing), >= 0, in action units [-1, 1]."""

    target_noise_clip: float = 0.5
    """The target noise is clipped to ±this value, >= 0."""

    exploration_noise_std: float = 0.1
    """Std of the Gaussian noise added to the actor's action when collecting, >= 0 (actions clipped to [-1, 1])."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a value is outside its documented range.
        """
        super().validate(path)
        _require(self.class_name == "TD3", path, "class_name", f"must be 'TD3', got {self.class_name!r}.")
        _require(self.policy_delay >= 1, path, "policy_delay", f"must be >= 1, got {self.policy_delay}.")
        for key in ("target_policy_noise", "target_noise_clip", "exploration_noise_std"):
            value = getattr(self, key)
            _require(value >= 0 and math.isfinite(value), path, key, f"must be finite and >= 0, got {value}.")
