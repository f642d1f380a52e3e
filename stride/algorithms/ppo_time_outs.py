"""PPO's time-out bootstrap: a truncated episode's last reward gains γ·V(final observation) (DESIGN.md §4, decision 2).

A mixin of :class:`~stride.algorithms.ppo.PPO`. Two paths: on the CPU the critic runs on the timed-out rows only
(reading the mask is free there); off the CPU (:attr:`sync_free_bootstrap`) it runs on every row without a host
read, non-finite values are recorded and :meth:`TimeOutBootstrap._check_bootstrap` raises them once, when the
returns are computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, Protocol

import torch

from stride.algorithms.returns import bootstrap_time_outs
from stride.config.schema import PPOCfg
from stride.models.mlp_model import MLPModel, Observations
from stride.storage import RolloutStorage
from stride.utils.errors import NonFiniteError

__all__ = ["TimeOutBootstrap"]


class _Bootstrapping(Protocol):
    """What the bootstrap reads of the algorithm."""

    cfg: PPOCfg
    device: torch.device
    storage: RolloutStorage
    critic: MLPModel
    sync_free_bootstrap: bool
    _bad_bootstrap: torch.Tensor

    def _critic_values(self, obs: Observations) -> torch.Tensor: ...

    def _peek_values(self, obs: Observations) -> torch.Tensor: ...


class TimeOutBootstrap:
    """Mixin: fold V(final obs) of the timed-out envs into their rewards, with or without a host read.

    The algorithm sets ``sync_free_bootstrap`` and ``_bad_bootstrap`` (one flag per env) in its constructor.
    """

    def _bootstrap_time_outs(
        self: _Bootstrapping, rewards: torch.Tensor, timed_out: torch.Tensor, extras: Mapping[str, Any]
    ) -> torch.Tensor:
        """Rewards with the time-out bootstrap folded in.

        With ``final_obs`` the critic runs on the timed-out rows only (CPU: reading the mask is free), or on every
        row with no host read when ``sync_free_bootstrap`` is set (GPU); without it V(s_t) is used (rsl_rl).

        Raises:
            NonFiniteError: If V(final obs) of a timed-out env is NaN/inf (at once on the CPU path; on the
                sync-free path the value is replaced by 0 and :meth:`_check_bootstrap` raises).
        """
        gamma = self.cfg.gamma
        final_obs = extras.get("final_obs")
        if final_obs is None:
            return bootstrap_time_outs(rewards, timed_out, self.storage.values[self.storage.step], gamma)
        final_obs = final_obs.to(self.device)
        if self.sync_free_bootstrap:
            boot = self._peek_values(final_obs)
            finite = torch.isfinite(boot)
            self._bad_bootstrap |= timed_out & ~finite
            # a non-finite value never reaches storage: it is zeroed here and reported at the end of the rollout
            return bootstrap_time_outs(rewards, timed_out, torch.where(finite, boot, 0.0), gamma)
        rows = timed_out.nonzero().squeeze(-1)
        if rows.numel() == 0:
            return rewards
        # a recurrent critic needs every env's state: run it on all rows, a feed-forward one on the timed-out rows
        boot = self._peek_values(final_obs)[rows] if self.critic.is_recurrent else self._critic_values(final_obs[rows])
        if not bool(torch.isfinite(boot).all()):
            _raise_bad_bootstrap(rows[~torch.isfinite(boot)])
        # r_t ← r_t + γ·V(s_{t+1}^final) on the timed-out rows
        return rewards.index_put((rows,), rewards[rows] + gamma * boot)

    def _check_bootstrap(self: _Bootstrapping) -> None:
        """On the sync-free path, raise for the timed-out envs whose V(final obs) was NaN/inf during the rollout.

        The one host read of that path; nothing on the CPU path (which raised at once).

        Raises:
            NonFiniteError: Naming the envs (their flags are cleared first).
        """
        if not self.sync_free_bootstrap:
            return
        bad = self._bad_bootstrap.nonzero().squeeze(-1)
        if bad.numel():
            self._bad_bootstrap.zero_()
            _raise_bad_bootstrap(bad)


def _raise_bad_bootstrap(envs: torch.Tensor) -> NoReturn:
    """Raise the error for non-finite V(final obs) of the timed-out ``envs``."""
    raise NonFiniteError(
        f"V(extras['final_obs']) is not finite for the timed-out envs {envs[:8].tolist()}: the env's final "
        "observations hold NaN/inf. No update used them."
    )
