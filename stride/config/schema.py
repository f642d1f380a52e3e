"""Configuration dataclasses of stride's components, in rsl_rl v5's dict format.

Each field documents its meaning and valid range; ``validate(path)`` enforces the range when the config is built
with :func:`stride.config.strict.build` (strict keys, strict types, the input never mutated). The tables in
docs/configuration.md mirror these docstrings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from stride.config.strict import suggest
from stride.utils.errors import ConfigError

__all__ = ["MLPModelCfg", "PPOCfg", "RunnerCfg"]

OptimizerName = Literal["adam", "adamw", "sgd", "rmsprop"]


def _require(ok: bool, path: str, key: str, message: str) -> None:
    """Raise ``ConfigError`` naming ``path.key`` when ``ok`` is false."""
    if not ok:
        where = f"{path}.{key}" if path else key
        raise ConfigError(f"'{where}' {message}")


@dataclass(kw_only=True)
class MLPModelCfg:
    """An MLP model: observation groups → optional normalizer → MLP → optional distribution."""

    class_name: str = "MLPModel"
    """Model class: ``"MLPModel"`` or ``"module:Attr"``."""

    hidden_dims: list[int] = field(default_factory=lambda: [256, 256, 256])
    """Hidden layer widths, each >= 1 (or -1 for 'same as input')."""

    activation: str = "elu"
    """Hidden activation: elu, selu, relu, crelu, lrelu, tanh, sigmoid, softplus, gelu, swish, mish, identity."""

    obs_normalization: bool = False
    """Normalize inputs with running mean/std (updated once per iteration after the update)."""

    distribution_cfg: dict[str, Any] | None = None
    """Output distribution (actor): ``{"class_name": "GaussianDistribution", "init_std": 1.0, ...}``; None for a
    deterministic model (critic)."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a hidden width is invalid.
        """
        _require(len(self.hidden_dims) > 0, path, "hidden_dims", "must list at least one layer width.")
        for width in self.hidden_dims:
            _require(width >= 1 or width == -1, path, "hidden_dims", f"widths must be >= 1 or -1, got {width}.")


@dataclass(kw_only=True)
class RNNModelCfg(MLPModelCfg):
    """A recurrent model: observation groups → optional normalizer → GRU/LSTM → MLP head → optional distribution."""

    class_name: str = "RNNModel"
    """Model class: ``"RNNModel"`` or ``"module:Attr"``."""

    rnn_type: Literal["lstm", "gru"] = "lstm"
    """Recurrent cell."""

    rnn_hidden_dim: int = 256
    """Hidden state size, >= 1."""

    rnn_num_layers: int = 1
    """Stacked recurrent layers, >= 1."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a width or the layer count is invalid.
        """
        super().validate(path)
        _require(self.rnn_hidden_dim >= 1, path, "rnn_hidden_dim", f"must be >= 1, got {self.rnn_hidden_dim}.")
        _require(self.rnn_num_layers >= 1, path, "rnn_num_layers", f"must be >= 1, got {self.rnn_num_layers}.")


CNNPaddingName = Literal["none", "zeros", "reflect", "replicate", "circular"]
CNNNormName = Literal["none", "batch", "layer"]


@dataclass(kw_only=True)
class PPOCfg:
    """Proximal Policy Optimization with rsl_rl's options and defaults."""

    class_name: str = "PPO"
    """Algorithm class: ``"PPO"``."""

    optimizer: OptimizerName = "adam"
    """Optimizer of actor and critic."""

    learning_rate: float = 1e-3
    """Initial learning rate, > 0 (adapted when ``schedule='adaptive'``)."""

    num_learning_epochs: int = 5
    """Passes over the rollout per iteration, >= 1."""

    num_mini_batches: int = 4
    """Mini-batches per epoch, >= 1; must divide num_envs × num_steps_per_env."""

    schedule: Literal["adaptive", "fixed"] = "adaptive"
    """'adaptive': per mini-batch, KL > 2·desired_kl → lr /= 1.5 (floor 1e-5); KL < desired_kl/2 → lr *= 1.5 (cap
    1e-2). 'fixed': constant learning rate."""

    value_loss_coef: float = 1.0
    """Weight of the value loss, >= 0."""

    clip_param: float = 0.2
    """PPO ratio clip ε (and value clip range), > 0."""

    use_clipped_value_loss: bool = True
    """Clip the value prediction around the rollout value by ±clip_param."""

    desired_kl: float | None = 0.01
    """Target KL for the adaptive schedule, > 0 (None disables adaptation)."""

    entropy_coef: float = 0.01
    """Entropy bonus weight, >= 0."""

    gamma: float = 0.99
    """Discount factor γ in (0, 1]."""

    lam: float = 0.95
    """GAE λ in [0, 1]."""

    max_grad_norm: float | None = 1.0
    """Gradient-norm clip (actor and critic separately), > 0; None disables clipping."""

    normalize_advantage_per_mini_batch: bool = False
    """Normalize advantages per mini-batch instead of once over the whole rollout."""

    share_cnn_encoders: bool = False
    """Share CNN encoders between actor and critic (CNN models only)."""

    use_mixed_precision: bool = False
    """Run the update's forward passes under bfloat16 autocast."""

    value_normalization: bool = False
    """(stride) Critic predicts returns normalized by running mean/std; off for migrated rsl_rl configs."""

    nonfinite_update: Literal["raise", "skip"] = "raise"
    """(stride) A mini-batch whose losses or gradient norms are NaN/inf is never applied. 'raise': stop with a
    ``NonFiniteError`` naming the loss term, mini-batch and iteration. 'skip': leave parameters and optimizer state
    untouched, count it (``Train/skipped_updates``) and go on."""

    rnd_cfg: dict[str, Any] | None = None
    """Random Network Distillation settings (curiosity); None disables it."""

    symmetry_cfg: dict[str, Any] | None = None
    """Symmetry augmentation / mirror loss settings; None disables it."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a value is outside its documented range.
        """
        _require(
            self.class_name in ("PPO", "rsl_rl.algorithms.PPO", "rsl_rl.algorithms:PPO"),
            path,
            "class_name",
            f"must be 'PPO' for the OnPolicyRunner, got {self.class_name!r}{suggest(self.class_name, ['PPO'])}.",
        )
        _require(
            not self.share_cnn_encoders,
            path,
            "share_cnn_encoders",
            "needs CNN models, which this stride version does not provide yet; set it to false.",
        )
        _require(
            self.learning_rate > 0 and math.isfinite(self.learning_rate),
            path,
            "learning_rate",
            f"must be > 0, got {self.learning_rate}.",
        )
        _require(
            self.num_learning_epochs >= 1, path, "num_learning_epochs", f"must be >= 1, got {self.num_learning_epochs}."
        )
        _require(self.num_mini_batches >= 1, path, "num_mini_batches", f"must be >= 1, got {self.num_mini_batches}.")
        _require(self.value_loss_coef >= 0, path, "value_loss_coef", f"must be >= 0, got {self.value_loss_coef}.")
        _require(self.clip_param > 0, path, "clip_param", f"must be > 0, got {self.clip_param}.")
        _require(self.entropy_coef >= 0, path, "entropy_coef", f"must be >= 0, got {self.entropy_coef}.")
        _require(0 < self.gamma <= 1, path, "gamma", f"must be in (0, 1], got {self.gamma}.")
        _require(0 <= self.lam <= 1, path, "lam", f"must be in [0, 1], got {self.lam}.")
        if self.desired_kl is not None:
            _require(self.desired_kl > 0, path, "desired_kl", f"must be > 0 or None, got {self.desired_kl}.")
        _require(
            not (self.schedule == "adaptive" and self.desired_kl is None),
            path,
            "desired_kl",
            "must be set when schedule='adaptive' (or use schedule='fixed').",
        )
        if self.max_grad_norm is not None:
            _require(self.max_grad_norm > 0, path, "max_grad_norm", f"must be > 0 or None, got {self.max_grad_norm}.")


@dataclass(kw_only=True)
class RunnerCfg:
    """The on-policy runner: rollout length, logging, checkpoints, and the algorithm and model sections."""

    class_name: str = "OnPolicyRunner"
    """Runner class (accepted for Isaac Lab configs): ``"OnPolicyRunner"``."""

    num_steps_per_env: int = 24
    """Rollout length per env and iteration, >= 1."""

    save_interval: int = 50
    """Write a checkpoint every this many iterations, >= 1."""

    obs_groups: dict[str, list[str]] = field(default_factory=dict)
    """Observation sets (actor, critic, rnd_state, ...) → env observation groups; missing sets are resolved."""

    run_name: str = ""
    """Suffix of the run directory name."""

    experiment_name: str = ""
    """Experiment name (Isaac Lab key; used by the CLI to group runs)."""

    check_for_nan: bool = True
    """Raise ``NonFiniteError`` when the env returns NaN/inf (naming group and env indices)."""

    check_env: bool = True
    """(stride) Validate the env against the VecEnv contract with ``check_env`` when the runner is built (a few
    steps with a private random generator; built-in tasks are restored exactly afterwards)."""

    torch_compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None = (
        None
    )
    """Compile the models with ``torch.compile`` in this mode; None = eager."""

    logger: str | dict[str, Any] = "tensorboard"
    """Log backend: 'tensorboard', 'wandb', 'neptune', or {'class_name': ..., ...}. metrics.jsonl is always written."""

    wandb_project: str | None = None
    """Deprecated rsl_rl key: W&B project name."""

    neptune_project: str | None = None
    """Deprecated rsl_rl key: Neptune project name."""

    seed: int | None = None
    """Seed of python, numpy, torch (None: leave the generators as they are)."""

    device: str | None = None
    """Isaac Lab key; the device argument of the runner takes precedence."""

    max_iterations: int | None = None
    """Isaac Lab key: default number of learning iterations for the CLI."""

    resume: bool = False
    """Isaac Lab key: resume from ``load_run``/``load_checkpoint`` (handled by the launcher)."""

    load_run: str = ".*"
    """Isaac Lab key: run directory regex to resume from."""

    load_checkpoint: str = "model_.*.pt"
    """Isaac Lab key: checkpoint file regex to resume from."""

    clip_actions: float | None = None
    """Isaac Lab key: clip actions to ±value before env.step (None: no clipping)."""

    algorithm: dict[str, Any] = field(default_factory=dict)
    """Algorithm section (``class_name`` + its keys, see ``PPOCfg``)."""

    actor: dict[str, Any] = field(default_factory=lambda: {"class_name": "MLPModel"})
    """Actor model section (see ``MLPModelCfg``)."""

    critic: dict[str, Any] = field(default_factory=lambda: {"class_name": "MLPModel"})
    """Critic model section (see ``MLPModelCfg``)."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a value is outside its documented range.
        """
        _require(self.num_steps_per_env >= 1, path, "num_steps_per_env", f"must be >= 1, got {self.num_steps_per_env}.")
        _require(self.save_interval >= 1, path, "save_interval", f"must be >= 1, got {self.save_interval}.")
        if self.clip_actions is not None:
            _require(self.clip_actions > 0, path, "clip_actions", f"must be > 0 or None, got {self.clip_actions}.")
        if self.max_iterations is not None:
            _require(self.max_iterations >= 0, path, "max_iterations", f"must be >= 0, got {self.max_iterations}.")
        _require(
            self.class_name in ("OnPolicyRunner", "rsl_rl.runners.OnPolicyRunner", "rsl_rl.runners:OnPolicyRunner"),
            path,
            "class_name",
            f"must be 'OnPolicyRunner', got {self.class_name!r}{suggest(self.class_name, ['OnPolicyRunner'])}.",
        )
        _require(
            self.torch_compile_mode is None,
            path,
            "torch_compile_mode",
            "is not supported by this stride version yet; set it to null (stride's eager path is already faster "
            "than rsl_rl's, see BENCHMARKS.md).",
        )
