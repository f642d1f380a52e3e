"""A drop-in ``nn.Linear`` whose backward picks faster matrix layouts for the skinny shapes of RL networks.

Policy and value networks have tiny input and output layers (a handful of observations in, one value or a few
actions out) applied to large batches. BLAS libraries handle two of the resulting backward products poorly on
CPU: the input gradient of a one-output layer is an outer product computed as a rank-1 GEMM, and the weight
gradient of a narrow-input layer reduces over the long batch dimension in an unfavourable layout. This module
computes the same quantities with a broadcast multiply and a transposed GEMM. Parameters, state-dict keys and
forward values are those of ``nn.Linear``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FLOAT32_HEAD_OUTPUTS", "Linear"]

_NARROW_INPUT = 16
"""Input widths up to this use the transposed weight-gradient product (measured faster on CPU up to here)."""


_MIN_BATCH = 1024
"""Batches smaller than this use torch's own backward (the custom function has a fixed Python overhead)."""


FLOAT32_HEAD_OUTPUTS = 16
"""Under autocast, layers with at most this many outputs (the output heads: a value, action means) return float32.

A bfloat16 output keeps 8 significant bits: a value of 100 would be stored to ±0.25 and a clipped value loss
(clip 0.2) would see that rounding as a change of the critic. A head's forward is computed in float32 from its
(bfloat16) input and its backward products in the input's dtype (``_MixedHeadFunction``), which costs nothing
measurable on the cartpole benchmark and keeps values and action means at float32 resolution."""


class _LinearFunction(torch.autograd.Function):
    """y = x·Wᵀ + b with a shape-aware backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        out_features, in_features = weight.shape
        g2 = grad.reshape(-1, out_features)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # ∂L/∂x = g·W; for one output this is an outer product, done as a broadcast multiply
            grad_x = g2 * weight if out_features == 1 else g2 @ weight
            grad_x = grad_x.reshape(x.shape)
        if ctx.needs_input_grad[1]:
            x2 = x.reshape(-1, in_features)
            # ∂L/∂W = gᵀ·x, computed as (xᵀ·g)ᵀ for narrow inputs
            grad_w = (x2.t() @ g2).t().contiguous() if in_features <= _NARROW_INPUT else g2.t() @ x2
        if ctx.has_bias and ctx.needs_input_grad[2]:
            # ∂L/∂b = Σ_batch g
            grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b


class _MixedHeadFunction(torch.autograd.Function):
    """A float32 output from a low-precision input: y = float(x)·Wᵀ + b, with a low-precision backward.

    The float32 output keeps a head's values exact to float32 (see FLOAT32_HEAD_OUTPUTS); the backward's two
    products run in the input's dtype (the speed of the hidden layers' backward) and return the input gradient in
    that dtype and the parameters' gradients in float32. Autocasting a float32 head instead (``x.float()`` with
    autograd through the cast) measured 8.9 ms against 1.6 ms here for a 6,144 × 256 → 1 head, forward and
    backward, on an AMX CPU.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.linear(x.float(), weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        out_features, in_features = weight.shape
        g2 = grad.reshape(-1, out_features)
        low = g2.to(x.dtype)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # ∂L/∂x = g·W, in the input's dtype
            grad_x = (low @ weight.to(x.dtype)).reshape(x.shape)
        if ctx.needs_input_grad[1]:
            # ∂L/∂W = gᵀ·x: a low-precision product, returned in float32
            grad_w = (low.t() @ x.reshape(-1, in_features)).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            # ∂L/∂b = Σ_batch g, in float32
            grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b


class Linear(nn.Linear):
    """``nn.Linear`` with a faster backward for skinny layers (same parameters, state dict and values)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply y = x·Wᵀ + b. Shape: (..., in_features) → (..., out_features)."""
        if torch.jit.is_scripting():
            return F.linear(x, self.weight, self.bias)
        return self._eager_forward(x)

    @torch.jit.unused
    def _eager_forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_tracing():
            # the TorchScript-based ONNX exporter: one plain op, and no Python test on traced sizes (a TracerWarning)
            return F.linear(x, self.weight, self.bias)
        device = x.device.type
        if torch.is_autocast_enabled(device):
            if self.out_features <= FLOAT32_HEAD_OUTPUTS:
                # an output head under mixed precision: float32 out (see FLOAT32_HEAD_OUTPUTS); without autograd
                # the same forward as the function's, so a rollout and an update compute the same values
                with torch.autocast(device, enabled=False):
                    if x.dtype == torch.float32 or not torch.is_grad_enabled():
                        return self._plain_forward(x.float(), self.weight, self.bias)
                    return _MixedHeadFunction.apply(x, self.weight, self.bias)  # type: ignore[no-any-return]
            # hidden layers: the dtype autocast's own F.linear would use, so the custom backward below sees one
            # dtype (autocast does not reach a custom function's backward, which runs after the autocast region);
            # the casts' own backward returns the parameters' gradients in float32
            dtype = torch.get_autocast_dtype(device)
            bias = self.bias.to(dtype) if self.bias is not None else None
            with torch.autocast(device, enabled=False):
                return self._plain_forward(x.to(dtype), self.weight.to(dtype), bias)
        return self._plain_forward(x, self.weight, self.bias)

    def _plain_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """Compute x·Wᵀ + b on tensors of one dtype, through the custom backward where it is faster."""
        skinny = self.out_features == 1 or self.in_features <= _NARROW_INPUT
        large = x.numel() >= _MIN_BATCH * self.in_features
        # the layouts only matter to CPU BLAS; on GPUs the extra Python-side function would only add overhead
        if skinny and large and x.device.type == "cpu" and torch.is_grad_enabled():
            return _LinearFunction.apply(x, weight, bias)  # type: ignore[no-any-return]
        return F.linear(x, weight, bias)
