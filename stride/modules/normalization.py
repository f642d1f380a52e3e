"""Running mean/variance statistics: observation normalization and value normalization.

Reference:
    Chan, Golub, LeVeque (1979), "Updating Formulae and a Pairwise Algorithm for Computing Sample Variances".
"""

from __future__ import annotations

import torch
from torch import nn

from stride.utils.distributed import union_moments
from stride.utils.errors import ConfigError

__all__ = ["EmpiricalNormalization", "ValueNormalizer", "combine_moments"]


def _count_as(count: int | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Return ``count`` as a 0-d tensor with the dtype and device of ``like``, without a host-device copy."""
    if isinstance(count, torch.Tensor):
        if count.is_floating_point() and not like.is_floating_point():
            count = count.round()  # e.g. an all-reduced float count of 8.9999 means 9 samples
        return count.to(device=like.device, dtype=like.dtype)
    # torch.full launches a fill kernel; torch.as_tensor(int, device=cuda) would copy from host memory
    return torch.full((), float(count), dtype=like.dtype, device=like.device)


def combine_moments(
    mean_a: torch.Tensor,
    var_a: torch.Tensor,
    count_a: int | torch.Tensor,
    mean_b: torch.Tensor,
    var_b: torch.Tensor,
    count_b: int | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, int | torch.Tensor]:
    """Merge the population statistics of two disjoint sets of samples exactly (Chan et al.).

    Pure function: no argument is modified, no host sync. If both counts are zero, ``(mean_a, var_a, 0)`` comes
    back unchanged instead of NaN.

    Args:
        mean_a: Mean of set a. Shape: any, broadcastable with ``mean_b``.
        var_a: Population variance (divisor ``count_a``) of set a, same shape as ``mean_a``.
        count_a: Number of samples in set a (int or integer/float scalar tensor), ``>= 0``.
        mean_b: Mean of set b.
        var_b: Population variance of set b.
        count_b: Number of samples in set b, ``>= 0``.

    Returns:
        ``(mean, var, count)`` of the union: the mean and population variance in the floating dtype of the means,
        and ``count = count_a + count_b`` (a tensor if either count is one).
    """
    count = count_a + count_b
    n_a, n_b = _count_as(count_a, mean_a), _count_as(count_b, mean_a)
    n_total = n_a + n_b
    n = n_total.clamp_min(1.0)  # the clamp only matters when both sets are empty
    # Weights of each part: w_a = n_a / n, w_b = n_b / n (w_a = 1 when both are empty, keeping set a as is)
    w_a = torch.where(n_total > 0, n_a / n, torch.ones_like(n))
    w_b = n_b / n
    # delta = mean_b - mean_a
    delta = mean_b - mean_a
    # mean = mean_a + w_b * delta
    mean = mean_a + w_b * delta
    # var = (n_a var_a + n_b var_b + delta^2 n_a n_b / n) / n = w_a var_a + w_b var_b + w_a w_b delta^2
    var = w_a * var_a + w_b * var_b + (w_a * w_b) * delta.square()
    return mean, var, count


class EmpiricalNormalization(nn.Module):
    """Normalize features with the running mean and standard deviation of every sample seen so far.

    Buffers (same names and shapes as rsl_rl's ``EmpiricalNormalization``, so its state dicts load as is):
    ``_mean`` ``(1, D)``, ``_var`` ``(1, D)`` (population variance), ``_std`` ``(1, D)``, ``count`` (long scalar).

    Statistics change only through :meth:`update` or :meth:`merge`, never in :meth:`forward`; the caller decides
    when (stride updates once per iteration, after the policy update). Updates are exact (the running statistics
    equal those of the concatenation of all batches) and never sync with the host.

    Shape:
        Input ``(..., D)``, output the same shape.
    """

    def __init__(self, shape: int, eps: float = 1e-2, until: int | None = None) -> None:
        """Create empty statistics (mean 0, variance 1, count 0).

        Args:
            shape: Feature size D.
            eps: Added to the standard deviation in the denominator, ``> 0``; keeps constant features finite.
            until: If given, stop updating once ``count >= until`` samples have been absorbed (the update that
                crosses the limit still counts in full).

        Raises:
            ConfigError: If ``shape`` is not a positive int, ``eps`` is negative, or ``until`` is not a positive int.
        """
        super().__init__()
        if not isinstance(shape, int) or isinstance(shape, bool) or shape <= 0:
            raise ConfigError(f"EmpiricalNormalization shape must be a positive int (feature size), got {shape!r}.")
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps >= 0.0:
            raise ConfigError(f"EmpiricalNormalization eps must be a float >= 0, got {eps!r}; the default is 1e-2.")
        if until is not None and (not isinstance(until, int) or isinstance(until, bool) or until <= 0):
            raise ConfigError(f"EmpiricalNormalization until must be None or a positive int, got {until!r}.")
        self.eps = float(eps)
        self.until = until
        self._mean: torch.Tensor
        self._var: torch.Tensor
        self._std: torch.Tensor
        self.count: torch.Tensor
        self.register_buffer("_mean", torch.zeros(1, shape))
        self.register_buffer("_var", torch.ones(1, shape))
        self.register_buffer("_std", torch.ones(1, shape))
        self.register_buffer("count", torch.tensor(0, dtype=torch.long))

    @property
    def mean(self) -> torch.Tensor:
        """A copy of the running mean. Shape: (D,)."""
        return self._mean.squeeze(0).clone()

    @property
    def std(self) -> torch.Tensor:
        """A copy of the running standard deviation (population). Shape: (D,)."""
        return self._std.squeeze(0).clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x``.

        Args:
            x: Features. Shape: (..., D).

        Returns:
            ``(x - mean) / (std + eps)``, same shape as ``x``.
        """
        # y = (x - mean) / (std + eps)
        return (x - self._mean) / (self._std + self.eps)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`forward`.

        Args:
            y: Normalized features. Shape: (..., D).

        Returns:
            ``y * (std + eps) + mean``, same shape as ``y``.
        """
        # x = y * (std + eps) + mean
        return y * (self._std + self.eps) + self._mean

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Absorb a batch of samples into the running statistics.

        In a multi-process run every rank must call it with the same number of samples: the ranks' batch statistics
        are merged (exactly) before they are absorbed, so every rank keeps the same statistics.

        Args:
            x: Samples. Shape: (..., D), flattened to (B, D); an empty batch changes nothing.
        """
        feature_dim = self._mean.shape[-1]
        x = x.detach().reshape(-1, feature_dim).to(self._mean.dtype)
        if x.shape[0] == 0:
            return
        # Batch statistics with the population divisor B
        var_b, mean_b = torch.var_mean(x, dim=0, correction=0, keepdim=True)
        # multi-process: the statistics of every rank's batch together, identical on every rank (as is in one process)
        mean_b, var_b, count_b = union_moments(mean_b, var_b, x.shape[0])
        self.merge(mean_b, var_b, count_b)

    @torch.no_grad()
    def merge(self, mean: torch.Tensor, var: torch.Tensor, count: int | torch.Tensor) -> None:
        """Merge externally computed statistics (e.g. all-reduced across ranks) into the running ones.

        Respects ``until`` like :meth:`update`. Merging the statistics of a batch equals calling :meth:`update` on it.

        Args:
            mean: Mean of the other samples. Shape: (D,) or (1, D).
            var: Population variance of the other samples. Shape: (D,) or (1, D).
            count: Number of other samples (int or scalar tensor).
        """
        feature_dim = self._mean.shape[-1]
        mean = mean.detach().reshape(1, feature_dim).to(self._mean.dtype)
        var = var.detach().reshape(1, feature_dim).to(self._var.dtype)
        count_b = _count_as(count, self.count)
        new_mean, new_var, new_count = combine_moments(self._mean, self._var, self.count, mean, var, count_b)
        # Clamp tiny negative round-off so that sqrt stays real
        new_var = new_var.clamp_min(0.0)
        if self.until is not None:
            # Frozen once count >= until; torch.where keeps this free of host syncs
            active = self.count < self.until
            new_mean = torch.where(active, new_mean, self._mean)
            new_var = torch.where(active, new_var, self._var)
            new_count = torch.where(active, new_count, self.count)
        self._mean.copy_(new_mean)
        self._var.copy_(new_var)
        self._std.copy_(new_var.sqrt())
        self.count.copy_(torch.as_tensor(new_count))


class ValueNormalizer(EmpiricalNormalization):
    """Running mean/std of scalar returns, for PPO value normalization.

    The critic predicts normalized values; targets are normalized with :meth:`normalize` and predictions mapped
    back with :meth:`denormalize`. Unlike :class:`EmpiricalNormalization`, whose ``eps`` is added to the standard
    deviation (right for observations of order 1), returns can have any scale, so the standard deviation is only
    floored: ``(v - mean) / max(std, std_floor)``. Before any update the map is the identity (mean 0, std 1).

    Buffers are those of :class:`EmpiricalNormalization` with D = 1.

    Shape:
        Values of any shape; the statistics are scalars.
    """

    def __init__(self, std_floor: float = 1e-4, until: int | None = None) -> None:
        """Create empty statistics.

        Args:
            std_floor: Lower bound on the standard deviation used to divide, ``> 0``.
            until: If given, stop updating after that many samples.

        Raises:
            ConfigError: If ``std_floor`` is not positive or ``until`` is invalid.
        """
        if not isinstance(std_floor, (int, float)) or isinstance(std_floor, bool) or not std_floor > 0.0:
            raise ConfigError(f"ValueNormalizer std_floor must be a float > 0, got {std_floor!r}; e.g. 1e-4.")
        super().__init__(1, eps=0.0, until=until)
        self.std_floor = float(std_floor)

    def _scale(self) -> torch.Tensor:
        """Denominator ``max(std, std_floor)`` as a 0-d tensor."""
        return self._std.reshape(()).clamp_min(self.std_floor)

    def normalize(self, v: torch.Tensor) -> torch.Tensor:
        """Map raw values to normalized ones.

        Args:
            v: Raw values (returns or value predictions). Shape: any.

        Returns:
            ``(v - mean) / max(std, std_floor)``, same shape as ``v``.
        """
        # v_n = (v - mean) / max(std, std_floor)
        return (v - self._mean.reshape(())) / self._scale()

    def denormalize(self, v: torch.Tensor) -> torch.Tensor:
        """Map normalized values back to raw ones.

        Args:
            v: Normalized values. Shape: any.

        Returns:
            ``v * max(std, std_floor) + mean``, same shape as ``v``.
        """
        # v = v_n * max(std, std_floor) + mean
        return v * self._scale() + self._mean.reshape(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`normalize`.

        Args:
            x: Raw values. Shape: any.

        Returns:
            Normalized values, same shape as ``x``.
        """
        return self.normalize(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`denormalize`.

        Args:
            y: Normalized values. Shape: any.

        Returns:
            Raw values, same shape as ``y``.
        """
        return self.denormalize(y)
