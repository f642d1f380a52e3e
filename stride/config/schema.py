"""Configuration dataclasses of stride's components, in rsl_rl v5's dict format.

Each field documents its meaning and valid range; ``validate(path)`` enforces the range when the config is built
with :func:`stride.config.strict.build` (strict keys, strict types, the input never mutated). The tables in
docs/configuration.md mirror these docstrings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from stride.config.strict import build, suggest
from stride.utils.compile import CompileMode
from stride.utils.errors import ConfigError

__all__ = [
    "RUNNER_CLASS_NAMES",
    "CNNCfg",
    "CNNModelCfg",
    "DistillationCfg",
    "MLPModelCfg",
    "PPOCfg",
    "RNDCfg",
    "RNDWeightScheduleCfg",
    "RunnerCfg",
    "SymmetryCfg",
    "parse_cnn_cfg",
]

OptimizerName = Literal["adam", "adamw", "sgd", "rmsprop"]


def _require(ok: bool, path: str, key: str, message: str) -> None:
    """Raise ``ConfigError`` naming ``path.key`` when ``ok`` is false."""
    if not ok:
        where = f"{path}.{key}" if path else key
        raise ConfigError(f"'{where}' {message}")


def _check_schedule_iterations(schedule_iterations: int | None, path: str) -> None:
    """``schedule_iterations`` is >= 1 when set (the runner fills None from its ``max_iterations``)."""
    if schedule_iterations is not None:
        _require(
            schedule_iterations >= 1, path, "schedule_iterations", f"must be >= 1 or None, got {schedule_iterations}."
        )


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

    orthogonal_init_gains: list[float] | None = None
    """(stride) Initialize the MLP's Linear layers orthogonally with these gains (one per layer: the hidden layers,
    then the output layer; each >= 0) and zero biases, e.g. ``[1.414, 1.414, 0.01]`` for an actor whose first
    actions are near 0 whatever the state (CleanRL, SB3). None: torch's default initialization, as rsl_rl."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a hidden width or an initialization gain is invalid.
        """
        _require(len(self.hidden_dims) > 0, path, "hidden_dims", "must list at least one layer width.")
        for width in self.hidden_dims:
            _require(width >= 1 or width == -1, path, "hidden_dims", f"widths must be >= 1 or -1, got {width}.")
        gains = self.orthogonal_init_gains
        if gains is not None:
            _require(
                len(gains) == len(self.hidden_dims) + 1,
                path,
                "orthogonal_init_gains",
                f"must have one gain per Linear layer, len(hidden_dims) + 1 = {len(self.hidden_dims) + 1}, "
                f"got {len(gains)}: {gains}.",
            )
            _require(
                all(math.isfinite(g) and g >= 0 for g in gains),
                path,
                "orthogonal_init_gains",
                f"gains must be finite and >= 0, got {gains}.",
            )


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
class CNNCfg:
    """One CNN image encoder (rsl_rl's ``cnn_cfg`` keys). A list value gives one entry per convolution layer."""

    output_channels: list[int] = field(default_factory=list)
    """Channels of each convolution layer, each >= 1; its length is the number of layers (required, non-empty)."""

    kernel_size: int | list[int] = 3
    """Kernel size, >= 1: one for all layers or one per layer."""

    stride: int | list[int] = 1
    """Convolution stride, >= 1: one for all layers or one per layer."""

    dilation: int | list[int] = 1
    """Convolution dilation, >= 1: one for all layers or one per layer."""

    padding: CNNPaddingName = "none"
    """'none': no padding; 'zeros', 'reflect', 'replicate', 'circular': that padding mode, sized as rsl_rl does
    (keeps the size for stride 1 and odd kernels)."""

    norm: CNNNormName | list[CNNNormName] = "none"
    """Normalization after each convolution: 'none', 'batch' (BatchNorm2d) or 'layer' (LayerNorm over C, H, W);
    one for all layers or one per layer."""

    activation: str = "elu"
    """Activation after each convolution (the names of ``MLPModelCfg.activation``)."""

    max_pool: bool | list[bool] = False
    """3×3, stride-2 max pooling after a layer (halves H and W, rounding up): one for all layers or one per layer."""

    global_pool: Literal["none", "max", "avg"] = "none"
    """Pool each channel to 1×1 after the last layer."""

    flatten: bool = True
    """Flatten the output to a feature vector; must be true inside a CNNModel."""

    def validate(self, path: str) -> None:
        """Check ranges and per-layer list lengths.

        Raises:
            ConfigError: If a value is out of range or a list's length differs from ``output_channels``'.
        """
        _require(
            len(self.output_channels) > 0,
            path,
            "output_channels",
            "must list the channels of at least one convolution layer, e.g. [32, 64].",
        )
        for channels in self.output_channels:
            _require(channels >= 1, path, "output_channels", f"entries must be >= 1, got {self.output_channels}.")
        num_layers = len(self.output_channels)
        per_layer: dict[str, Any] = {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "dilation": self.dilation,
            "norm": self.norm,
            "max_pool": self.max_pool,
        }
        for key, value in per_layer.items():
            if isinstance(value, list):
                _require(
                    len(value) == num_layers,
                    path,
                    key,
                    f"has {len(value)} entries but output_channels has {num_layers} layers; give one value for all "
                    "layers or one per layer.",
                )
            if key in ("kernel_size", "stride", "dilation"):
                values = value if isinstance(value, list) else [value]
                _require(all(v >= 1 for v in values), path, key, f"must be >= 1, got {value}.")


def parse_cnn_cfg(cnn_cfg: Mapping[str, Any] | None, path: str) -> CNNCfg | dict[str, CNNCfg] | None:
    """Build the encoder config(s) of a CNN model strictly.

    Args:
        cnn_cfg: One encoder config (``CNNCfg`` keys) for every image group, or image group → its encoder config
            (recognized by every value being a mapping, as in rsl_rl), or None.
        path: Dotted path of ``cnn_cfg`` in the whole config, for errors (``"actor.cnn_cfg"``).

    Returns:
        A ``CNNCfg``, a dict group → ``CNNCfg``, or None.

    Raises:
        ConfigError: On an unknown key (with the dotted path and a suggestion), a wrong type or a value out of range.
    """
    if cnn_cfg is None:
        return None
    if not isinstance(cnn_cfg, Mapping):
        raise ConfigError(
            f"'{path}' must be a mapping of CNNCfg keys or of image group → CNNCfg, got {cnn_cfg!r} "
            f"({type(cnn_cfg).__name__})."
        )
    if cnn_cfg and all(isinstance(v, Mapping) for v in cnn_cfg.values()):
        return {str(group): build(CNNCfg, sub, f"{path}.{group}") for group, sub in cnn_cfg.items()}
    return build(CNNCfg, cnn_cfg, path)


@dataclass(kw_only=True)
class CNNModelCfg(MLPModelCfg):
    """A CNN model: image groups → one CNN encoder each; features + (normalized) 1-D groups → MLP → distribution."""

    class_name: str = "CNNModel"
    """Model class: ``"CNNModel"`` or ``"module:Attr"``."""

    cnn_cfg: dict[str, Any] | None = None
    """Encoder config (``CNNCfg`` keys) shared by every image group, or image group → its own ``CNNCfg``. None only
    for a critic that receives the actor's encoders (``algorithm.share_cnn_encoders``)."""

    def validate(self, path: str) -> None:
        """Check ranges and the encoder config(s).

        Raises:
            ConfigError: If a hidden width or an encoder value is invalid, or an encoder does not flatten.
        """
        super().validate(path)
        parsed = parse_cnn_cfg(self.cnn_cfg, f"{path}.cnn_cfg" if path else "cnn_cfg")
        encoders = parsed.items() if isinstance(parsed, dict) else [("", parsed)] if parsed is not None else []
        for group, encoder in encoders:
            where = ".".join(p for p in (path, "cnn_cfg", group) if p)
            _require(
                encoder.flatten,
                where,
                "flatten",
                "must be true in a CNNModel: the MLP head takes the encoder output as a feature vector.",
            )


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

    schedule: Literal["adaptive", "fixed", "linear"] = "adaptive"
    """'adaptive': per mini-batch, KL > 2·desired_kl → lr /= 1.5 (floor 1e-5); KL < desired_kl/2 → lr *= 1.5 (cap
    1e-2). 'fixed': constant learning rate. (stride) 'linear': lr_k = learning_rate·(1 − min(k, H − 1)/H) at
    iteration k, H = ``schedule_iterations`` (CleanRL's annealing; never 0)."""

    schedule_iterations: int | None = None
    """(stride) H of ``schedule='linear'``, >= 1; None: the runner's ``max_iterations``. Ignored by the other
    schedules."""

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
    """Build the critic with the actor's CNN encoders (the same modules, trained by both losses); both models must
    be CNN models reading the same image groups. The critic's ``cnn_cfg`` is then ignored."""

    use_mixed_precision: bool = False
    """Run the models' forward passes, the rollout's and the update's, under bfloat16 autocast (output layers in
    float32). Pays on CPUs with AMX; slower on CPUs without bfloat16 units (docs/configuration.md)."""

    value_normalization: bool = False
    """(stride) Critic predicts returns normalized by running mean/std; off for migrated rsl_rl configs."""

    reward_scaling: bool = False
    """(stride) Divide rewards by the running std of the per-env discounted return (γ), clipped to ±10, before
    the time-out bootstrap and GAE (SB3 VecNormalize's ``norm_reward``); logged returns stay raw."""

    nonfinite_update: Literal["raise", "skip"] = "raise"
    """(stride) A mini-batch whose losses or gradient norms are NaN/inf is never applied. 'raise': stop with a
    ``NonFiniteError`` naming the loss term, mini-batch and iteration. 'skip': leave parameters and optimizer state
    untouched, count it (``Train/skipped_updates``) and go on."""

    rnd_cfg: dict[str, Any] | None = None
    """Random Network Distillation settings (curiosity, see ``RNDCfg``); None disables it."""

    symmetry_cfg: dict[str, Any] | None = None
    """Symmetry augmentation / mirror loss settings; None disables it."""

    cuda_graphs: bool = False
    """(stride) Capture the act step (policy, sampling, storage write) and the whole update (epochs × mini-batches
    and the normalizer update) as CUDA graphs once warmed up, and replay them. Recurrent models train on whole env
    columns with resets (fixed shapes); with an extension or a CNN beside them only the act step is captured. Single
    process only. On a CPU device the same static-buffer code runs eagerly (eager results, no speed-up)."""

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
        _check_schedule_iterations(self.schedule_iterations, path)
        if self.max_grad_norm is not None:
            _require(self.max_grad_norm > 0, path, "max_grad_norm", f"must be > 0 or None, got {self.max_grad_norm}.")


@dataclass(kw_only=True)
class RNDWeightScheduleCfg:
    """How the intrinsic-reward weight changes with the number of env steps (rsl_rl's ``weight_schedule`` dict).

    Steps count rollout steps (one per ``env.step`` call, whatever ``num_envs``); the first step of training is
    step 1, so iteration ``i`` covers steps ``i·T + 1`` to ``(i + 1)·T``.
    """

    mode: Literal["constant", "step", "linear"] = "constant"
    """'constant': always ``weight``. 'step': ``weight`` before ``final_step``, ``final_value`` from ``final_step``
    on. 'linear': ``weight`` up to ``initial_step``, then linear to ``final_value`` at ``final_step``, then
    ``final_value``."""

    initial_step: int | None = None
    """'linear' only: step where the interpolation starts, >= 0."""

    final_step: int | None = None
    """'step' and 'linear': step where the weight becomes ``final_value``, >= 0 ('linear': > ``initial_step``)."""

    final_value: float | None = None
    """'step' and 'linear': the weight from ``final_step`` on, finite and >= 0."""

    def validate(self, path: str) -> None:
        """Check that the mode's keys, and only those, are given and in range.

        Raises:
            ConfigError: If a key the mode needs is missing, a key it ignores is set, or a value is out of range.
        """
        needed = {
            "constant": (),
            "step": ("final_step", "final_value"),
            "linear": ("initial_step", "final_step", "final_value"),
        }
        for key in ("initial_step", "final_step", "final_value"):
            given = getattr(self, key) is not None
            _require(
                given == (key in needed[self.mode]),
                path,
                key,
                f"is {'required' if key in needed[self.mode] else 'not used'} with mode={self.mode!r} (mode "
                f"{self.mode!r} takes {list(needed[self.mode]) or 'no further keys'}).",
            )
        if self.initial_step is not None:
            _require(self.initial_step >= 0, path, "initial_step", f"must be >= 0, got {self.initial_step}.")
        if self.final_step is not None:
            _require(self.final_step >= 0, path, "final_step", f"must be >= 0, got {self.final_step}.")
        if self.final_value is not None:
            _require(
                math.isfinite(self.final_value) and self.final_value >= 0,
                path,
                "final_value",
                f"must be finite and >= 0, got {self.final_value}.",
            )
        if self.mode == "linear" and self.initial_step is not None and self.final_step is not None:
            _require(
                self.final_step > self.initial_step,
                path,
                "final_step",
                f"must be > initial_step for mode='linear', got final_step={self.final_step} <= initial_step="
                f"{self.initial_step}.",
            )


@dataclass(kw_only=True)
class RNDCfg:
    """Random Network Distillation (curiosity): rsl_rl's ``rnd_cfg`` keys, with Isaac Lab's defaults.

    The intrinsic reward ``weight·‖target(s) − predictor(s)‖`` on the ``rnd_state`` observation set is added to the
    env's reward; the predictor is trained with its own Adam optimizer on the rollout's states.
    """

    num_outputs: int = 1
    """Embedding size of predictor and target, >= 1."""

    predictor_hidden_dims: list[int] = field(default_factory=lambda: [-1])
    """Hidden layer widths of the predictor, each >= 1 or -1 (the ``rnd_state`` size)."""

    target_hidden_dims: list[int] = field(default_factory=lambda: [-1])
    """Hidden layer widths of the frozen random target, each >= 1 or -1 (the ``rnd_state`` size)."""

    activation: str = "elu"
    """Hidden activation of both networks (same names as the models')."""

    state_normalization: bool = False
    """Normalize the ``rnd_state`` with running mean/std (updated once per iteration, after the update)."""

    reward_normalization: bool = False
    """Divide the intrinsic reward by the running std of its discounted sum (non-episodic, γ of the algorithm)."""

    weight: float = 0.0
    """Intrinsic reward weight, finite and >= 0 (0 disables the bonus; multiplied by ``env.unwrapped.step_dt`` when
    the env has one, as rsl_rl does)."""

    weight_schedule: RNDWeightScheduleCfg | None = None
    """How the weight changes with env steps (see ``RNDWeightScheduleCfg``); None keeps ``weight``."""

    learning_rate: float = 1e-3
    """Learning rate of the predictor's Adam optimizer, > 0."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a value is outside its documented range.
        """
        _require(self.num_outputs >= 1, path, "num_outputs", f"must be >= 1, got {self.num_outputs}.")
        for key in ("predictor_hidden_dims", "target_hidden_dims"):
            widths = getattr(self, key)
            _require(len(widths) > 0, path, key, "must list at least one layer width.")
            for width in widths:
                _require(width >= 1 or width == -1, path, key, f"widths must be >= 1 or -1, got {width}.")
        _require(
            math.isfinite(self.weight) and self.weight >= 0,
            path,
            "weight",
            f"must be finite and >= 0, got {self.weight}.",
        )
        _require(
            math.isfinite(self.learning_rate) and self.learning_rate > 0,
            path,
            "learning_rate",
            f"must be > 0, got {self.learning_rate}.",
        )


@dataclass(kw_only=True)
class SymmetryCfg:
    """Symmetry augmentation and mirror loss: rsl_rl's ``symmetry_cfg`` keys and defaults.

    With both ``use_*`` flags false the mirror loss is still measured and logged, without training on it (rsl_rl's
    logging-only mode).
    """

    use_data_augmentation: bool = False
    """Append the mirrored observations and actions to every mini-batch (the other rollout tensors repeated)."""

    use_mirror_loss: bool = False
    """Add ``mirror_loss_coeff · MSE(μ(mirror(s)), mirror(μ(s)))`` to the loss (μ: the actor's mean action)."""

    mirror_loss_coeff: float = 0.0
    """Weight of the mirror loss, finite and >= 0."""

    data_augmentation_func: Any = None
    """The augmentation function: a callable, ``"module:function"``, or a built-in name (a symmetric built-in task:
    ``cartpole``, ``pendulum``, ``pendulum-pomdp``, ``pendulum-noisy``, ``memory``; or ``Ant-v5``, ``Humanoid-v5``);
    called as ``func(env=env, obs=TensorDict | None, actions=Tensor | None)`` and returning ``(obs, actions)`` with
    the originals first. Required."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If the function is missing or not a callable / string, or the coefficient is negative.
        """
        func = self.data_augmentation_func
        _require(
            isinstance(func, str) or (callable(func) and not isinstance(func, type)),
            path,
            "data_augmentation_func",
            f"must be a callable, 'module:function' or a built-in name, got {func!r}. Fix: e.g. "
            "data_augmentation_func='stride.env.symmetry:cartpole_symmetry'.",
        )
        _require(
            math.isfinite(self.mirror_loss_coeff) and self.mirror_loss_coeff >= 0,
            path,
            "mirror_loss_coeff",
            f"must be finite and >= 0, got {self.mirror_loss_coeff}.",
        )


@dataclass(kw_only=True)
class DistillationCfg:
    """DAgger-style student–teacher distillation with rsl_rl's options and defaults, plus stride's β schedule."""

    class_name: str = "Distillation"
    """Algorithm class: ``"Distillation"``."""

    optimizer: OptimizerName = "adam"
    """Optimizer of the student."""

    learning_rate: float = 1e-3
    """Learning rate of the student, > 0 (lr_0 of ``schedule='linear'``)."""

    schedule: Literal["fixed", "linear"] = "fixed"
    """(stride) 'fixed': constant learning rate, as rsl_rl. 'linear': lr_k = learning_rate·(1 − min(k, H − 1)/H) at
    iteration k, H = ``schedule_iterations``: the behaviour loss settles as the step shrinks."""

    schedule_iterations: int | None = None
    """(stride) H of ``schedule='linear'``, >= 1; None: the runner's ``max_iterations``."""

    num_learning_epochs: int = 1
    """Passes over the rollout per iteration, >= 1."""

    gradient_length: int = 15
    """Steps per truncated-BPTT window, >= 1: the summed behaviour loss of this many consecutive rollout steps
    makes one gradient step (a shorter last window of each epoch makes one too)."""

    max_grad_norm: float | None = None
    """Gradient-norm clip of the student, > 0; None disables clipping."""

    loss_type: Literal["mse", "huber"] = "mse"
    """Behaviour loss between the student's mean action and the teacher's action: mean squared error or Huber
    (δ = 1)."""

    use_mixed_precision: bool = False
    """Run the update's student forward passes under bfloat16 autocast."""

    nonfinite_update: Literal["raise", "skip"] = "raise"
    """(stride) A window whose loss or gradient norm is NaN/inf is never applied. 'raise': stop with a
    ``NonFiniteError``; 'skip': leave the student and optimizer untouched, count it and go on."""

    beta: float = 0.0
    """(stride) β₀ in [0, 1]: probability, per env and step, that the teacher's action is executed instead of the
    student's at iteration 0 (DAgger's mixture policy). 0 = the student always acts, as in rsl_rl."""

    beta_schedule: Literal["linear", "exponential"] = "linear"
    """(stride) Decay of β over iterations i, reaching 0 at ``beta_decay_iterations`` = D: 'linear':
    β_i = β₀·(1 − i/D); 'exponential': β_i = β₀·0.01^(i/D) for i < D."""

    beta_decay_iterations: int = 100
    """(stride) D, iterations after which β is 0, >= 1."""

    def validate(self, path: str) -> None:
        """Check ranges.

        Raises:
            ConfigError: If a value is outside its documented range.
        """
        names = ("Distillation", "rsl_rl.algorithms.Distillation", "rsl_rl.algorithms:Distillation")
        _require(
            self.class_name in names,
            path,
            "class_name",
            f"must be 'Distillation' for the DistillationRunner, got {self.class_name!r}"
            f"{suggest(self.class_name, ['Distillation'])}.",
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
        _require(self.gradient_length >= 1, path, "gradient_length", f"must be >= 1, got {self.gradient_length}.")
        _check_schedule_iterations(self.schedule_iterations, path)
        if self.max_grad_norm is not None:
            _require(self.max_grad_norm > 0, path, "max_grad_norm", f"must be > 0 or None, got {self.max_grad_norm}.")
        _require(0.0 <= self.beta <= 1.0, path, "beta", f"must be in [0, 1], got {self.beta}.")
        _require(
            self.beta_decay_iterations >= 1,
            path,
            "beta_decay_iterations",
            f"must be >= 1, got {self.beta_decay_iterations}.",
        )


RUNNER_CLASS_NAMES: dict[str, str] = {
    "OnPolicyRunner": "OnPolicyRunner",
    "rsl_rl.runners.OnPolicyRunner": "OnPolicyRunner",
    "rsl_rl.runners:OnPolicyRunner": "OnPolicyRunner",
    "DistillationRunner": "DistillationRunner",
    "rsl_rl.runners.DistillationRunner": "DistillationRunner",
    "rsl_rl.runners:DistillationRunner": "DistillationRunner",
    "OffPolicyRunner": "OffPolicyRunner",
}
"""Accepted ``class_name`` spellings of the runner → stride's runner class name."""


@dataclass(kw_only=True)
class RunnerCfg:
    """The on-policy runner: rollout length, logging, checkpoints, and the algorithm and model sections."""

    class_name: str = "OnPolicyRunner"
    """Runner class (accepted for Isaac Lab configs): ``"OnPolicyRunner"``, ``"DistillationRunner"`` or
    ``"OffPolicyRunner"`` (SAC, TD3)."""

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

    nan_check_mode: Literal["auto", "deferred", "immediate"] = "auto"
    """(stride) When ``check_for_nan`` reads its verdict. 'auto': 'immediate' on the CPU (a host read is free there),
    'deferred' on other devices. 'deferred': bad values are recorded and replaced by 0 on
    the device, and the error (naming the first bad step) is raised once per rollout, before returns and the update:
    no host sync per step. 'immediate': a host read after every step, raising at the step itself."""

    check_env: bool = True
    """(stride) Validate the env against the VecEnv contract: what can be checked without stepping when the runner
    is built (counts, observations of ``get_observations()``), the rest on the first steps of ``learn`` (device,
    time limit, ``episode_length_buf``, the step outputs). The runner never steps or resets the env to check it;
    ``stride check-env`` runs the full stepping check."""

    torch_compile_mode: CompileMode | None = None
    """rsl_rl key: compile the models' calls of the rollout and the update with ``torch.compile`` in this mode
    ('default' or 'max-autotune-no-cudagraphs'); None = eager. The CUDA-graph modes ('reduce-overhead',
    'max-autotune') are refused as rsl_rl refuses them. Checkpoints and exports are those of the plain models.
    Every runner: OffPolicyRunner compiles SAC's / TD3's act step and their critic and actor objectives."""

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

    init_at_random_ep_len: bool = False
    """Isaac Lab 3 key: its train script passes it to ``learn(init_at_random_ep_len=...)``; the runner itself
    does not read it (``learn``'s argument decides)."""

    wandb_tags: list[str] = field(default_factory=list)
    """mjlab key: tags of the W&B run (given to W&B when the logger is 'wandb')."""

    upload_model: bool = True
    """mjlab key: upload checkpoints to W&B / Neptune when such a logger is used (False: log metrics only)."""

    store_code_state: bool = True
    """Record the git state (commit, diff) of the repositories added with ``add_git_repo_to_log`` in the run
    directory (Isaac Lab's Spot config sets this key; False skips it)."""

    multi_gpu: dict[str, Any] | None = None
    """rsl_rl writes its process ranks here into the dict it is given; accepted so such a dict can be reused, and
    ignored (stride reads the ranks from torchrun's environment variables)."""

    algorithm: dict[str, Any] = field(default_factory=dict)
    """Algorithm section (``class_name`` + its keys, see ``PPOCfg``, ``DistillationCfg``, ``SACCfg``, ``TD3Cfg``)."""

    actor: dict[str, Any] = field(default_factory=lambda: {"class_name": "MLPModel"})
    """Actor model section (see ``MLPModelCfg``)."""

    critic: dict[str, Any] = field(default_factory=lambda: {"class_name": "MLPModel"})
    """Critic model section (see ``MLPModelCfg``)."""

    student: dict[str, Any] | None = None
    """Student model section of a ``DistillationRunner`` (see ``MLPModelCfg``); None for the OnPolicyRunner."""

    teacher: dict[str, Any] | None = None
    """Teacher model section of a ``DistillationRunner``: the PPO run's actor section; None for the OnPolicyRunner."""

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
            self.class_name in RUNNER_CLASS_NAMES,
            path,
            "class_name",
            f"must be 'OnPolicyRunner', 'DistillationRunner' or 'OffPolicyRunner', got {self.class_name!r}"
            f"{suggest(self.class_name, ['OnPolicyRunner', 'DistillationRunner', 'OffPolicyRunner'])}.",
        )
