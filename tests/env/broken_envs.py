"""A zoo of environments that each break the VecEnv contract in exactly one way.

:class:`GoodEnv` follows the contract; every other class changes one thing of it. The test module checks that
``GoodEnv`` passes ``check_env`` (so each rejection is caused by the one change) and that every broken env is
rejected with a message naming the broken field.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict

NAN = float("nan")


class GoodEnv:
    """A small correct VecEnv: a 3-D point pushed by 2 actions, with terminations and a time limit.

    Groups: ``"policy"`` (N, 3) and ``"critic"`` (N, 4). Episode starts are staggered (``episode_length_buf =
    arange(N) % max_episode_length``) so that with N=4 and a limit of 3, env 2 times out at step 1, env 1 at step 2.
    Returns ``time_outs``, ``final_obs`` and ``log`` in extras. Fully deterministic given the actions.
    """

    def __init__(self, num_envs: int = 4, device: str | torch.device = "cpu", max_episode_length: int = 3) -> None:
        self.num_envs = num_envs
        self.num_actions = 2
        self.max_episode_length = max_episode_length
        self.device = torch.device(device)
        self.cfg: dict[str, Any] = {"name": type(self).__name__}
        self._init_length(torch.arange(num_envs, dtype=torch.long, device=self.device) % max_episode_length)
        self.pos = torch.linspace(-0.5, 0.5, num_envs, device=self.device).unsqueeze(-1).repeat(1, 3)

    def _init_length(self, buf: torch.Tensor) -> None:
        self.episode_length_buf = buf

    def observe(self) -> TensorDict:
        """Fresh observation tensors of the current state."""
        length = self.episode_length_buf.to(torch.float32).unsqueeze(-1)
        return TensorDict(
            {"policy": self.pos.clone(), "critic": torch.cat([self.pos, length], dim=-1)}, batch_size=[self.num_envs]
        )

    def get_observations(self) -> TensorDict:
        """Current observations."""
        return self.observe()

    def action_view(self, actions: torch.Tensor) -> torch.Tensor:
        """The actions as the physics consume them. Shape: (num_envs, 2)."""
        return actions.reshape(self.num_envs, 2)

    def step(self, actions: torch.Tensor) -> Any:
        """Move, reward, terminate, time out and reset (same-step reset)."""
        a = self.action_view(actions)
        self.pos = self.pos + 0.3 * torch.cat([a, a[:, :1]], dim=-1)
        rewards = -self.pos.square().sum(dim=-1)
        buf = self.episode_length_buf
        buf += 1
        terminated = self.pos[:, 0].abs() > 0.9
        time_outs = (buf >= self.max_episode_length) & ~terminated
        dones = terminated | time_outs
        final_obs = self.observe()
        self.pos = torch.where(dones.unsqueeze(-1), torch.zeros_like(self.pos), self.pos)
        buf.masked_fill_(dones, 0)
        return self.pack(self.observe(), rewards, dones, terminated, time_outs, final_obs)

    def pack(
        self,
        obs: TensorDict,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        terminated: torch.Tensor,
        time_outs: torch.Tensor,
        final_obs: TensorDict,
    ) -> Any:
        """The 4-tuple returned by ``step``."""
        extras = {"time_outs": time_outs, "final_obs": final_obs, "log": {"pos": self.pos[:, 0].mean()}}
        return obs, rewards, dones, extras


# ------------------------------------------------------------------------------------------------ attributes
class NumEnvsZero(GoodEnv):
    """``num_envs = 0``."""

    def __init__(self) -> None:
        super().__init__()
        self.num_envs = 0


class MaxEpisodeLengthZero(GoodEnv):
    """``max_episode_length = 0``."""

    def __init__(self) -> None:
        super().__init__()
        self.max_episode_length = 0


class MaxEpisodeLengthNegativeTensor(GoodEnv):
    """A per-env time limit with one negative entry."""

    def __init__(self) -> None:
        super().__init__()
        self.max_episode_length = torch.tensor([3, 3, -1, 3])


class MissingEpisodeLengthBuf(GoodEnv):
    """The step counter is called ``episode_length`` instead of ``episode_length_buf``."""

    def _init_length(self, buf: torch.Tensor) -> None:
        self.episode_length = buf


class Int32EpisodeLengthBuf(GoodEnv):
    """``episode_length_buf`` is int32 instead of long."""

    def _init_length(self, buf: torch.Tensor) -> None:
        self.episode_length_buf = buf.to(torch.int32)


class ReadOnlyEpisodeLengthBuf(GoodEnv):
    """``episode_length_buf`` is a property without setter: the runner cannot randomize episode starts."""

    def _init_length(self, buf: torch.Tensor) -> None:
        self._length = buf

    @property
    def episode_length_buf(self) -> torch.Tensor:  # pyright: ignore[reportIncompatibleVariableOverride]
        return self._length


class ForwardingWrapper:
    """A wrapper forwarding attribute reads to the inner env: assigning ``episode_length_buf`` lands on the
    wrapper, the inner env keeps counting in its own buffer.
    """

    def __init__(self) -> None:
        self.inner = GoodEnv()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["inner"], name)

    def get_observations(self) -> TensorDict:
        return self.inner.get_observations()

    def step(self, actions: torch.Tensor) -> Any:
        return self.inner.step(actions)


class ClaimsCuda(GoodEnv):
    """Says ``device = cuda`` while every tensor is on the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.device = torch.device("cuda")


# ---------------------------------------------------------------------------------------------- observations
class PlainDictObs(GoodEnv):
    """Observations as a plain dict instead of a TensorDict."""

    def observe(self) -> Any:
        return dict(super().observe().items())


class NoObsGroups(GoodEnv):
    """An observation TensorDict without any group."""

    def observe(self) -> TensorDict:
        return TensorDict({}, batch_size=[self.num_envs])


class NestedGroup(GoodEnv):
    """The critic group is a nested TensorDict instead of a tensor."""

    def observe(self) -> TensorDict:
        obs = super().observe()
        nested = TensorDict({"pos": obs["critic"][:, :3], "length": obs["critic"][:, 3:]}, batch_size=[self.num_envs])
        return TensorDict({"policy": obs["policy"], "critic": nested}, batch_size=[self.num_envs])


class StringGroup(GoodEnv):
    """A group holding a string (non-tensor data)."""

    def observe(self) -> TensorDict:
        obs = super().observe()
        obs["task"] = "reach"
        return obs


class WrongBatchDimGroup(GoodEnv):
    """The critic group has one row too few (the TensorDict has no batch size, so nothing stops it)."""

    def observe(self) -> TensorDict:
        obs = super().observe()
        return TensorDict({"policy": obs["policy"], "critic": obs["critic"][:-1]}, batch_size=[])


class BatchSizeMismatch(GoodEnv):
    """Correct groups in a TensorDict built without ``batch_size=[num_envs]``."""

    def observe(self) -> TensorDict:
        return TensorDict(dict(super().observe().items()), batch_size=[])


class OneDimGroup(GoodEnv):
    """A group of shape (N,) instead of (N, 1)."""

    def observe(self) -> TensorDict:
        obs = super().observe()
        obs["speed"] = obs["policy"][:, 0].clone()
        return obs


class EmptyGroup(GoodEnv):
    """A group of shape (N, 0)."""

    def observe(self) -> TensorDict:
        obs = super().observe()
        obs["contacts"] = torch.zeros(self.num_envs, 0)
        return obs


class Float64Obs(GoodEnv):
    """Observations in float64."""

    def observe(self) -> TensorDict:
        return super().observe().to(torch.float64)


class MetaDeviceObs(GoodEnv):
    """Observations on the 'meta' device while env.device is cpu."""

    def observe(self) -> TensorDict:
        return super().observe().to("meta")


class NaNObsAtReset(GoodEnv):
    """A NaN in env 2's policy observation at reset."""

    def get_observations(self) -> TensorDict:
        obs = self.observe()
        obs["policy"][2, 1] = NAN
        return obs


class NaNObsAtStep(GoodEnv):
    """A NaN in env 1's critic observation from the second step on."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def step(self, actions: torch.Tensor) -> Any:
        self.calls += 1
        obs, rewards, dones, extras = super().step(actions)
        if self.calls >= 2:
            obs["critic"][1, 0] = NAN
        return obs, rewards, dones, extras


class GroupMissingAtStep(GoodEnv):
    """``step`` returns only the policy group although reset had policy and critic."""

    def step(self, actions: torch.Tensor) -> Any:
        obs, rewards, dones, extras = super().step(actions)
        return obs.exclude("critic"), rewards, dones, extras


class InPlaceObsBuffer(GoodEnv):
    """One preallocated observation buffer, overwritten in place and returned every time."""

    def observe(self) -> TensorDict:
        fresh = super().observe()
        if not hasattr(self, "buffer"):
            self.buffer = fresh
        else:
            for key in list(fresh.keys()):
                self.buffer[key].copy_(fresh[key])
        return self.buffer


class SameTensorDictReplaced(GoodEnv):
    """The same TensorDict object returned every time, its entries replaced by new tensors."""

    def observe(self) -> TensorDict:
        fresh = super().observe()
        if not hasattr(self, "holder"):
            self.holder = fresh
        else:
            for key in list(fresh.keys()):
                self.holder[key] = fresh[key]
        return self.holder


# ----------------------------------------------------------------------------------------------------- actions
class WrongActionDim(GoodEnv):
    """Says ``num_actions = 3`` while the physics consume 2 actions: ``step`` fails on (N, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.num_actions = 3


# ------------------------------------------------------------------------------------------------ step() tuple
class ThreeTuple(GoodEnv):
    """``step`` returns ``(obs, rewards, dones)`` without extras."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return obs, rewards, dones


class GymnasiumFiveTuple(GoodEnv):
    """``step`` returns gymnasium's ``(obs, reward, terminated, truncated, info)``."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return obs, rewards, terminated, time_outs, {}


class RewardN1(GoodEnv):
    """Rewards of shape (N, 1)."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return super().pack(obs, rewards.unsqueeze(-1), dones, terminated, time_outs, final_obs)


class IntReward(GoodEnv):
    """Integer rewards."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return super().pack(obs, rewards.round().long(), dones, terminated, time_outs, final_obs)


class InfReward(GoodEnv):
    """``+inf`` reward in env 1."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        rewards[1] = float("inf")
        return super().pack(obs, rewards, dones, terminated, time_outs, final_obs)


class MetaDeviceRewards(GoodEnv):
    """Rewards on the 'meta' device."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return super().pack(obs, rewards.to("meta"), dones, terminated, time_outs, final_obs)


class DonesOutside01(GoodEnv):
    """Dones encoded as 0/2."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return super().pack(obs, rewards, dones.long() * 2, terminated, time_outs, final_obs)


class DonesN1(GoodEnv):
    """Dones of shape (N, 1)."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return super().pack(obs, rewards, dones.unsqueeze(-1), terminated, time_outs, final_obs)


class ExtrasNone(GoodEnv):
    """``None`` instead of the extras dict."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return obs, rewards, dones, None


class TimeOutsWithoutDone(GoodEnv):
    """Dones hold only terminations, so time-outs appear where done is 0."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return super().pack(obs, rewards, terminated, terminated, time_outs, final_obs)


class TimeOutsHalf(GoodEnv):
    """Time-outs encoded as 0.5 instead of 1."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return super().pack(obs, rewards, dones, terminated, time_outs.float() * 0.5, final_obs)


class FinalObsMissingGroup(GoodEnv):
    """``extras['final_obs']`` without the critic group."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        return super().pack(obs, rewards, dones, terminated, time_outs, final_obs.exclude("critic"))


class FinalObsWrongShape(GoodEnv):
    """``extras['final_obs']['critic']`` without its last feature."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        final_obs["critic"] = final_obs["critic"][:, :3].clone()
        return super().pack(obs, rewards, dones, terminated, time_outs, final_obs)


class FinalObsNaNInDoneEnv(GoodEnv):
    """NaN in the final observation of the envs that are done."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        final_obs["policy"][dones] = NAN
        return super().pack(obs, rewards, dones, terminated, time_outs, final_obs)


class LogNotADict(GoodEnv):
    """``extras['log']`` is a list."""

    def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
        obs, rewards, dones, extras = super().pack(obs, rewards, dones, terminated, time_outs, final_obs)
        extras["log"] = [1.0]
        return obs, rewards, dones, extras


# ------------------------------------------------------------------------------------------------- factories
def make_fixed_env() -> GoodEnv:
    """A factory without parameters (``check_env_target`` must call it bare)."""
    return GoodEnv(num_envs=5)


def make_env_from_kwargs(**kwargs: Any) -> GoodEnv:
    """A factory taking everything as keywords (``check_env_target`` must pass num_envs and device)."""
    return GoodEnv(**kwargs)
