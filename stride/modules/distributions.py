"""Action distributions with a stateless API: parameters go in, tensors come out.

rsl_rl's distributions keep the current distribution inside the module (``update`` then ``sample``). stride's
take the parameters explicitly, which makes them pure functions of their inputs: ``params(mlp_output)`` gives the
tensors a rollout stores, and every other method takes those tensors back. Parameter names (``std_param``,
``log_std_param``) and the MLP output layouts equal rsl_rl's, so rsl_rl checkpoints load with a plain state dict.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Mapping
from typing import Any, Literal, get_args

import torch
from torch import nn

from stride.utils.errors import ConfigError
from stride.utils.imports import import_object

__all__ = [
    "BetaDistribution",
    "Distribution",
    "GaussianDistribution",
    "HeteroscedasticGaussianDistribution",
    "StdType",
    "resolve_distribution",
]

StdType = Literal["scalar", "log"]
"""How a Gaussian standard deviation is parameterized: directly (``"scalar"``) or as its logarithm (``"log"``)."""

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _is_number(value: object) -> bool:
    """True for real Python numbers other than bools."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(value: object, field: str, positive: bool) -> tuple[float, float]:
    """Validate a ``(min, max)`` pair and return it as floats, or raise a ConfigError naming ``field``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:  # type: ignore[arg-type]
        raise ConfigError(f"{field} must be a (min, max) pair of floats, got {value!r}.")
    low, high = value  # type: ignore[misc]
    if not (_is_number(low) and _is_number(high) and math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"{field} must hold two finite floats, got {value!r}.")
    if positive and low <= 0.0:
        raise ConfigError(f"{field} min must be > 0, got {value!r}; use a small positive value such as 1e-6.")
    if low >= high:
        raise ConfigError(f"{field} needs min < max, got {value!r}.")
    return float(low), float(high)


def _last_linear(mlp: nn.Module, expected_out: int, owner: str) -> nn.Linear:
    """Return the last Linear layer of ``mlp``, checking it has ``expected_out`` outputs."""
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(
            f"{owner}.init_mlp_weights needs an MLP with a Linear output layer, got {type(mlp).__name__}."
        )
    last = linears[-1]
    if last.out_features != expected_out:
        raise ConfigError(
            f"{owner}.init_mlp_weights: the MLP's last Linear layer has {last.out_features} outputs, expected "
            f"{expected_out} (the distribution's input_dim); build the MLP with output_dim=distribution.input_dim."
        )
    return last


class Distribution(nn.Module):
    """Base class of stateless action distributions over ``A = output_dim`` independent action components.

    A model feeds its MLP output to :meth:`params`, stores the returned tensors in the rollout, and passes them
    back to :meth:`sample`, :meth:`log_prob`, :meth:`entropy`, :meth:`kl`, :meth:`mode` and :meth:`std`.
    ``forward`` is :meth:`deterministic_output`, so ``torch.jit.script(distribution)`` gives an export module.
    """

    def __init__(self, output_dim: int) -> None:
        """Store the action size.

        Args:
            output_dim: Action size A, a positive int.

        Raises:
            ConfigError: If ``output_dim`` is not a positive int.
        """
        super().__init__()
        if not isinstance(output_dim, int) or isinstance(output_dim, bool) or output_dim <= 0:
            raise ConfigError(f"{type(self).__name__} output_dim must be a positive int, got {output_dim!r}.")
        self.output_dim: int = output_dim

    @property
    def input_dim(self) -> int:
        """Number of MLP outputs the distribution consumes."""
        raise NotImplementedError

    def params(self, mlp_output: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Turn the MLP output into the distribution parameters stored in rollouts.

        Args:
            mlp_output: Raw MLP output. Shape: (B, input_dim).

        Returns:
            Parameter tensors, each of shape (B, A).
        """
        raise NotImplementedError

    def sample(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Draw one action per row with torch's global RNG (reparameterised where possible).

        Args:
            params: Output of :meth:`params`.

        Returns:
            Actions. Shape: (B, A).
        """
        raise NotImplementedError

    def log_prob(self, params: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        """Log density of ``actions``, summed over the action dimension.

        Args:
            params: Output of :meth:`params`.
            actions: Actions. Shape: (B, A).

        Returns:
            Log probabilities. Shape: (B,).
        """
        raise NotImplementedError

    def entropy(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Differential entropy, summed over the action dimension.

        Args:
            params: Output of :meth:`params`.

        Returns:
            Entropies. Shape: (B,).
        """
        raise NotImplementedError

    def kl(self, old_params: tuple[torch.Tensor, ...], new_params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Closed-form ``KL(old || new)``, summed over the action dimension.

        Args:
            old_params: Parameters of the old distribution (from :meth:`params`).
            new_params: Parameters of the new distribution.

        Returns:
            KL divergences. Shape: (B,).
        """
        raise NotImplementedError

    def mode(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Deterministic action (the mean for every built-in distribution).

        Args:
            params: Output of :meth:`params`.

        Returns:
            Actions. Shape: (B, A).
        """
        raise NotImplementedError

    def std(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Standard deviation of each action component, for logging.

        Args:
            params: Output of :meth:`params`.

        Returns:
            Standard deviations in action units. Shape: (B, A).
        """
        raise NotImplementedError

    def deterministic_output(self, mlp_output: torch.Tensor) -> torch.Tensor:
        """Deterministic action straight from the MLP output; TorchScript/ONNX friendly.

        Equals ``mode(params(mlp_output))``.

        Args:
            mlp_output: Raw MLP output. Shape: (B, input_dim).

        Returns:
            Actions. Shape: (B, A).
        """
        raise NotImplementedError

    def forward(self, mlp_output: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`deterministic_output` (what an exported policy computes).

        Args:
            mlp_output: Raw MLP output. Shape: (B, input_dim).

        Returns:
            Actions. Shape: (B, A).
        """
        return self.deterministic_output(mlp_output)

    def init_mlp_weights(self, mlp: nn.Module) -> None:
        """Initialize the distribution's part of the MLP's output layer (nothing by default).

        Args:
            mlp: The MLP whose output feeds this distribution.
        """


class _DiagonalGaussian(Distribution):
    """Closed-form maths shared by the Gaussian distributions; params are ``(mean, std)``, each (B, A)."""

    def __init__(self, output_dim: int, init_std: float, std_range: tuple[float, float], std_type: StdType) -> None:
        super().__init__(output_dim)
        name = type(self).__name__
        if std_type not in get_args(StdType):
            raise ConfigError(f"{name} std_type must be one of {list(get_args(StdType))}, got {std_type!r}.")
        low, high = _check_range(std_range, f"{name} std_range", positive=True)
        if not _is_number(init_std) or not 0.0 <= init_std <= high:
            raise ConfigError(f"{name} init_std must be a float in [0, {high}] (std_range's top), got {init_std!r}.")
        self.std_type: str = std_type
        # below std_range the std is clamped to its floor anyway; rsl_rl accepts 0 (Isaac Lab's distillation
        # teachers, whose std is never used), which is stored as the floor so the (log) parameter stays finite
        self.init_std = max(float(init_std), low)
        self.std_range: tuple[float, float] = (low, high)
        self.log_std_range: tuple[float, float] = (math.log(low), math.log(high))

    def _std_from_raw(self, raw: torch.Tensor) -> torch.Tensor:
        """Clamp a raw std (scalar type) or log std (log type) to the range and return the std."""
        if self.std_type == "log":
            # std = exp(clamp(log_std, log_min, log_max))
            return raw.clamp(self.log_std_range[0], self.log_std_range[1]).exp()
        # std = clamp(std, min, max)
        return raw.clamp(self.std_range[0], self.std_range[1])

    def sample(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Draw ``mean + std * eps`` with ``eps ~ N(0, I)`` (reparameterised).

        Args:
            params: ``(mean, std)``, each (B, A).

        Returns:
            Actions. Shape: (B, A).
        """
        mean, std = params
        # a = mu + sigma * eps, eps ~ N(0, 1)
        return mean + std * torch.randn_like(mean)

    def log_prob(self, params: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        """Gaussian log density summed over the action dimension.

        Args:
            params: ``(mean, std)``, each (B, A).
            actions: Actions. Shape: (B, A).

        Returns:
            Log probabilities. Shape: (B,).
        """
        mean, std = params
        # log N(a; mu, sigma) = -(a - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2
        z = (actions - mean) / std
        return (-0.5 * z.square() - std.log() - _HALF_LOG_2PI).sum(dim=-1)

    def entropy(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Gaussian entropy summed over the action dimension.

        Args:
            params: ``(mean, std)``, each (B, A).

        Returns:
            Entropies. Shape: (B,).
        """
        _, std = params
        # H = 1/2 + log(2 pi)/2 + log sigma
        return (0.5 + _HALF_LOG_2PI + std.log()).sum(dim=-1)

    def kl(self, old_params: tuple[torch.Tensor, ...], new_params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Closed-form ``KL(old || new)`` of diagonal Gaussians; exactly 0 for identical parameters.

        Args:
            old_params: ``(mean, std)`` of the old distribution.
            new_params: ``(mean, std)`` of the new distribution.

        Returns:
            KL divergences. Shape: (B,).
        """
        old_mean, old_std = old_params
        new_mean, new_std = new_params
        # r = (sigma_o / sigma_n)^2, t = ((mu_o - mu_n) / sigma_n)^2
        var_ratio = (old_std / new_std).square()
        t = ((old_mean - new_mean) / new_std).square()
        # KL = (r + t - 1 - log r) / 2
        return (0.5 * (var_ratio + t - 1.0 - var_ratio.log())).sum(dim=-1)

    def mode(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The mean.

        Args:
            params: ``(mean, std)``, each (B, A).

        Returns:
            Actions. Shape: (B, A).
        """
        return params[0]

    def std(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The standard deviation.

        Args:
            params: ``(mean, std)``, each (B, A).

        Returns:
            Standard deviations. Shape: (B, A).
        """
        return params[1]


class GaussianDistribution(_DiagonalGaussian):
    """Diagonal Gaussian with a state-independent standard deviation held by the module.

    The parameter is ``std_param`` (``std_type="scalar"``) or ``log_std_param`` (``"log"``), shape (A,), as in
    rsl_rl. ``init_std`` and ``std_range`` are given as standard deviations for both types. The MLP outputs the
    mean directly (``input_dim == A``).
    """

    def __init__(
        self,
        output_dim: int,
        init_std: float = 1.0,
        std_range: tuple[float, float] = (1e-6, 1e6),
        std_type: StdType = "scalar",
        learn_std: bool = True,
    ) -> None:
        """Create the std parameter.

        Args:
            output_dim: Action size A.
            init_std: Initial standard deviation, inside ``std_range``.
            std_range: ``(min, max)`` clamp of the standard deviation, ``0 < min < max``.
            std_type: ``"scalar"`` learns the std, ``"log"`` learns its logarithm.
            learn_std: If False the std stays at ``init_std`` (``requires_grad=False``).

        Raises:
            ConfigError: If any argument is out of its range.
        """
        super().__init__(output_dim, init_std, std_range, std_type)
        if not isinstance(learn_std, bool):
            raise ConfigError(f"GaussianDistribution learn_std must be a bool, got {learn_std!r}.")
        initial = torch.full((output_dim,), self.init_std)
        if std_type == "scalar":
            self.std_param = nn.Parameter(initial, requires_grad=learn_std)
        else:
            self.log_std_param = nn.Parameter(initial.log(), requires_grad=learn_std)

    @property
    def input_dim(self) -> int:
        """The MLP outputs the mean only: A."""
        return self.output_dim

    def params(self, mlp_output: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return ``(mean, std)`` with the std broadcast to the mean's shape.

        Args:
            mlp_output: The mean. Shape: (B, A).

        Returns:
            ``(mean, std)``, each (B, A).
        """
        raw = self.std_param if self.std_type == "scalar" else self.log_std_param
        return mlp_output, self._std_from_raw(raw).expand_as(mlp_output)

    def deterministic_output(self, mlp_output: torch.Tensor) -> torch.Tensor:
        """The mean, i.e. the MLP output itself.

        Args:
            mlp_output: Shape: (B, A).

        Returns:
            Actions. Shape: (B, A).
        """
        return mlp_output


class HeteroscedasticGaussianDistribution(_DiagonalGaussian):
    """Diagonal Gaussian whose standard deviation is predicted by the MLP (state-dependent).

    The MLP outputs 2A values: the first A are the mean, the last A the std (``std_type="scalar"``) or the log std
    (``"log"``), the same order as rsl_rl's ``(2, A)`` output. The module has no parameters.
    """

    def __init__(
        self,
        output_dim: int,
        init_std: float = 1.0,
        std_range: tuple[float, float] = (1e-6, 1e6),
        std_type: StdType = "scalar",
    ) -> None:
        """Validate the settings.

        Args:
            output_dim: Action size A.
            init_std: Std produced right after :meth:`init_mlp_weights`, inside ``std_range``.
            std_range: ``(min, max)`` clamp of the standard deviation, ``0 < min < max``.
            std_type: Whether the MLP's std half is the std (``"scalar"``) or its logarithm (``"log"``).

        Raises:
            ConfigError: If any argument is out of its range.
        """
        super().__init__(output_dim, init_std, std_range, std_type)

    @property
    def input_dim(self) -> int:
        """The MLP outputs mean and std: 2A."""
        return 2 * self.output_dim

    def params(self, mlp_output: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Split the MLP output into ``(mean, std)``.

        Args:
            mlp_output: Shape: (B, 2A).

        Returns:
            ``(mean, std)``, each (B, A).
        """
        mean, raw = mlp_output.split(self.output_dim, dim=-1)
        return mean, self._std_from_raw(raw)

    def deterministic_output(self, mlp_output: torch.Tensor) -> torch.Tensor:
        """The mean: the first A MLP outputs.

        Args:
            mlp_output: Shape: (B, 2A).

        Returns:
            Actions. Shape: (B, A).
        """
        return mlp_output[..., : self.output_dim]

    def init_mlp_weights(self, mlp: nn.Module) -> None:
        """Make the std head output ``init_std`` for every input: zero weights, constant bias.

        Args:
            mlp: MLP whose last Linear layer has 2A outputs.

        Raises:
            ConfigError: If the last Linear layer does not have 2A outputs.
        """
        last = _last_linear(mlp, self.input_dim, type(self).__name__)
        bias_value = self.init_std if self.std_type == "scalar" else math.log(self.init_std)
        with torch.no_grad():
            last.weight[self.output_dim :].zero_()
            last.bias[self.output_dim :].fill_(bias_value)


class BetaDistribution(Distribution):
    """Beta distribution per action component, rescaled to a bounded ``action_range``.

    The MLP outputs 2A raw values; ``alpha = softplus(raw[:A]) + 1`` and ``beta = softplus(raw[A:]) + 1`` (both
    > 1, so each marginal is unimodal), the same layout as rsl_rl. Actions are ``low + (high - low) * x`` with
    ``x ~ Beta(alpha, beta)``. Params are ``(alpha, beta)``, each (B, A).

    Log probabilities include the ``-log(high - low)`` Jacobian; entropies are those of the rescaled variable
    (``H(x) + log(high - low)``, rsl_rl reports ``H(x)``: a constant offset that changes no gradient).
    """

    def __init__(self, output_dim: int, action_range: tuple[float, float] = (-1.0, 1.0)) -> None:
        """Validate the range.

        Args:
            output_dim: Action size A.
            action_range: ``(low, high)`` interval of the actions, ``low < high``.

        Raises:
            ConfigError: If ``action_range`` is not a finite pair with ``low < high``.
        """
        super().__init__(output_dim)
        low, high = _check_range(action_range, "BetaDistribution action_range", positive=False)
        self.action_range: tuple[float, float] = (low, high)
        self.range_scale: float = high - low
        self.range_offset: float = low
        self.log_range_scale: float = math.log(high - low)

    @property
    def input_dim(self) -> int:
        """The MLP outputs raw alpha and raw beta: 2A."""
        return 2 * self.output_dim

    def params(self, mlp_output: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Map the raw MLP output to ``(alpha, beta)``.

        Args:
            mlp_output: Shape: (B, 2A).

        Returns:
            ``(alpha, beta)``, each (B, A), both > 1.
        """
        alpha_raw, beta_raw = mlp_output.split(self.output_dim, dim=-1)
        # alpha = softplus(raw_alpha) + 1, beta = softplus(raw_beta) + 1
        return torch.nn.functional.softplus(alpha_raw) + 1.0, torch.nn.functional.softplus(beta_raw) + 1.0

    def sample(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Draw ``low + scale * x`` with ``x ~ Beta(alpha, beta)`` (reparameterised through the Gamma sampler).

        Args:
            params: ``(alpha, beta)``, each (B, A).

        Returns:
            Actions inside ``action_range``. Shape: (B, A).
        """
        alpha, beta = params
        unit = torch.distributions.Beta(alpha, beta, validate_args=False).rsample()
        return unit * self.range_scale + self.range_offset

    def log_prob(self, params: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        """Beta log density of the actions, summed over the action dimension.

        Args:
            params: ``(alpha, beta)``, each (B, A).
            actions: Actions in ``action_range``. Shape: (B, A).

        Returns:
            Log probabilities. Shape: (B,).
        """
        alpha, beta = params
        # x = (a - low) / scale, clamped away from 0 and 1 where the log density is infinite
        x = ((actions - self.range_offset) / self.range_scale).clamp(1e-6, 1.0 - 1e-6)
        # log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b)
        log_beta_fn = torch.lgamma(alpha) + torch.lgamma(beta) - torch.lgamma(alpha + beta)
        # log p(a) = (alpha - 1) log x + (beta - 1) log(1 - x) - log B(alpha, beta) - log scale
        log_p = (alpha - 1.0) * x.log() + (beta - 1.0) * torch.log1p(-x) - log_beta_fn - self.log_range_scale
        return log_p.sum(dim=-1)

    def entropy(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Entropy of the rescaled Beta, summed over the action dimension.

        Args:
            params: ``(alpha, beta)``, each (B, A).

        Returns:
            Entropies. Shape: (B,).
        """
        alpha, beta = params
        total = alpha + beta
        log_beta_fn = torch.lgamma(alpha) + torch.lgamma(beta) - torch.lgamma(total)
        # H(x) = log B(a, b) - (a - 1) psi(a) - (b - 1) psi(b) + (a + b - 2) psi(a + b); H(a) = H(x) + log scale
        unit_entropy = (
            log_beta_fn
            - (alpha - 1.0) * torch.digamma(alpha)
            - (beta - 1.0) * torch.digamma(beta)
            + (total - 2.0) * torch.digamma(total)
        )
        return (unit_entropy + self.log_range_scale).sum(dim=-1)

    def kl(self, old_params: tuple[torch.Tensor, ...], new_params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Closed-form ``KL(old || new)`` of Beta distributions (invariant to the rescaling).

        Args:
            old_params: ``(alpha, beta)`` of the old distribution.
            new_params: ``(alpha, beta)`` of the new distribution.

        Returns:
            KL divergences. Shape: (B,).
        """
        a1, b1 = old_params
        a2, b2 = new_params
        log_beta_old = torch.lgamma(a1) + torch.lgamma(b1) - torch.lgamma(a1 + b1)
        log_beta_new = torch.lgamma(a2) + torch.lgamma(b2) - torch.lgamma(a2 + b2)
        # KL = log B(a2,b2) - log B(a1,b1) + (a1-a2) psi(a1) + (b1-b2) psi(b1) + (a2-a1+b2-b1) psi(a1+b1)
        kl = (
            log_beta_new
            - log_beta_old
            + (a1 - a2) * torch.digamma(a1)
            + (b1 - b2) * torch.digamma(b1)
            + (a2 - a1 + b2 - b1) * torch.digamma(a1 + b1)
        )
        return kl.sum(dim=-1)

    def mode(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The rescaled mean ``low + scale * alpha / (alpha + beta)`` (rsl_rl's deterministic action).

        Args:
            params: ``(alpha, beta)``, each (B, A).

        Returns:
            Actions. Shape: (B, A).
        """
        alpha, beta = params
        return alpha / (alpha + beta) * self.range_scale + self.range_offset

    def std(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Standard deviation of the rescaled Beta.

        Args:
            params: ``(alpha, beta)``, each (B, A).

        Returns:
            Standard deviations in action units. Shape: (B, A).
        """
        alpha, beta = params
        total = alpha + beta
        # Var(x) = a b / ((a + b)^2 (a + b + 1)); std(a) = scale * sqrt(Var(x))
        return (alpha * beta / (total.square() * (total + 1.0))).sqrt() * self.range_scale

    def deterministic_output(self, mlp_output: torch.Tensor) -> torch.Tensor:
        """The rescaled mean computed from the raw MLP output.

        Args:
            mlp_output: Shape: (B, 2A).

        Returns:
            Actions. Shape: (B, A).
        """
        alpha = torch.nn.functional.softplus(mlp_output[..., : self.output_dim]) + 1.0
        beta = torch.nn.functional.softplus(mlp_output[..., self.output_dim :]) + 1.0
        return alpha / (alpha + beta) * self.range_scale + self.range_offset

    def init_mlp_weights(self, mlp: nn.Module) -> None:
        """Zero the beta half of the output layer (weights and bias), as rsl_rl does.

        Args:
            mlp: MLP whose last Linear layer has 2A outputs.

        Raises:
            ConfigError: If the last Linear layer does not have 2A outputs.
        """
        last = _last_linear(mlp, self.input_dim, type(self).__name__)
        with torch.no_grad():
            last.weight[self.output_dim :].zero_()
            last.bias[self.output_dim :].zero_()


_BUILTIN: dict[str, type[Distribution]] = {
    "GaussianDistribution": GaussianDistribution,
    "HeteroscedasticGaussianDistribution": HeteroscedasticGaussianDistribution,
    "BetaDistribution": BetaDistribution,
}


def _resolve_class(class_name: object) -> type[Distribution]:
    """Resolve ``class_name`` (a class, a bare built-in name, ``"module:Attr"`` or ``"module.Attr"``)."""
    if isinstance(class_name, type):
        resolved: object = class_name
    elif not isinstance(class_name, str) or not class_name:
        raise ConfigError(
            f"distribution_cfg.class_name must be a class name string, got {class_name!r}; "
            f"e.g. {list(_BUILTIN)} or 'my.module:MyDistribution'."
        )
    elif class_name in _BUILTIN:
        return _BUILTIN[class_name]
    elif ":" not in class_name and "." not in class_name:
        close = difflib.get_close_matches(class_name, list(_BUILTIN), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown distribution_cfg.class_name {class_name!r}; expected one of {list(_BUILTIN)} "
            f"or 'module:Attr' of a stride Distribution subclass.{hint}"
        )
    else:
        if ":" in class_name:
            module_name, attr = class_name.split(":", 1)
        else:
            module_name, _, attr = class_name.rpartition(".")
        # rsl_rl's own distributions are stateful; their stride twins take the same arguments
        if module_name.split(".")[0] == "rsl_rl" and attr in _BUILTIN:
            return _BUILTIN[attr]
        resolved = import_object(class_name, "distribution_cfg.class_name")
    if not (isinstance(resolved, type) and issubclass(resolved, Distribution)):
        raise ConfigError(
            f"distribution_cfg.class_name {class_name!r} resolved to {resolved!r}, which is not a subclass of "
            "stride.modules.distributions.Distribution; subclass it and implement its stateless methods."
        )
    return resolved


def resolve_distribution(
    cfg: Mapping[str, Any] | None, output_dim: int, path: str = "distribution_cfg"
) -> Distribution | None:
    """Build the distribution a ``distribution_cfg`` dict describes.

    Args:
        cfg: ``{"class_name": ..., **constructor_kwargs}`` or None. ``class_name`` accepts the bare built-in names
            (``"GaussianDistribution"``, ``"HeteroscedasticGaussianDistribution"``, ``"BetaDistribution"``),
            ``"module:Attr"`` / ``"module.Attr"`` of any :class:`Distribution` subclass, or the class itself; rsl_rl
            paths of the built-in names map to stride's classes. The dict is never modified.
        output_dim: Action size A, passed as the first constructor argument.
        path: Dotted config path of ``cfg`` for error messages (e.g. ``"actor.distribution_cfg"``).

    Returns:
        The distribution, or None when ``cfg`` is None.

    Raises:
        ConfigError: If ``class_name`` is missing or unknown, a key is not a constructor argument (the message
            names ``distribution_cfg.<key>`` and suggests the closest argument), a required argument is missing,
            or the constructor rejects a value.
    """
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{path} must be a dict or None, got {type(cfg).__name__}: {cfg!r}.")
    if "class_name" not in cfg:
        raise ConfigError(
            f"{path} needs a 'class_name' key, got keys {sorted(cfg)}; e.g. "
            "{'class_name': 'GaussianDistribution', 'init_std': 1.0}."
        )
    cls = _resolve_class(cfg["class_name"])
    kwargs = {key: value for key, value in cfg.items() if key != "class_name"}
    if "output_dim" in kwargs:
        raise ConfigError(f"{path}.output_dim must not be set: the model passes its action size; remove the key.")
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # drop self
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    names = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    allowed = [name for name in names if name != "output_dim"]
    if not accepts_any:
        for key in kwargs:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"Unknown key {path}.{key} for {cls.__name__}; valid keys are {allowed}.{hint}")
    missing = [
        p.name
        for p in parameters
        if p.name in allowed and p.default is inspect.Parameter.empty and p.name not in kwargs
    ]
    if missing:
        raise ConfigError(f"{path} for {cls.__name__} is missing required keys {missing}.")
    # Copy list values (YAML gives lists) into tuples so the built module never aliases the caller's config
    kwargs = {key: tuple(value) if isinstance(value, list) else value for key, value in kwargs.items()}
    return cls(output_dim, **kwargs)
