"""``algorithm.cuda_graphs`` for SAC and TD3: the gradient step and the act step captured as CUDA graphs.

An off-policy update is ``num_updates_per_step × num_steps_per_env`` small gradient steps, each a few hundred kernel
launches (replay gather, n-step fold, target, critic, actor and α objectives, backward passes, fused optimizer steps,
Polyak updates); at FastTD3's batch sizes a GPU waits on Python and launches, not on arithmetic. Here one gradient
step is one graph replay. How the step is made capturable, following PPO's ``ppo_graphs.py``:

- **Replay indices drawn before each replay, the gather inside it.** The start slot of a window is drawn in
  ``[0, num_valid_starts)``, a bound that grows with every stored step until the buffer is full (never, for a 1M
  buffer on one env): a bound baked into a graph would need a capture per iteration. So each step draws the env and
  the start slot with the eager sampler's own calls, in its order (``random_(0, n)`` is what ``torch.randint``
  runs), into two static index tensors, and the graph reads them: the window arithmetic (the oldest slot is a device
  tensor), the n-step fold and the gather of observations, actions and rewards into the batch all run inside the
  graph. Two small kernels per step stay outside; the RNG stream is the eager run's.
- **The same code as eager.** The captured body is :meth:`OffPolicyAlgorithm._train_on` (augmentation, the
  algorithm's ``_update_step``, the loss sums), the eager update's own per-step body; on a CPU device it runs
  eagerly, which is how the default test tier checks it against the eager SAC / TD3 bit for bit.
- **Python branches become graphs.** TD3's delayed actor step is decided on the host (``_actor_due``): one graph
  with the actor step and one without, each warmed up and captured on its own. SAC uses one.
- **Noise inside the graphs.** SAC's a' ~ π(·|s') and a ~ π(·|s), TD3's target smoothing and the exploration noise
  are drawn inside the captured bodies, in the eager order: torch's CUDA generator is graph-safe (a replay reads
  the generator's offset and advances it as the eager kernels would).
- **State changed in place only.** Parameters, target networks, optimizer moments and step counters, tensor
  learning rates, log α, the normalizers' statistics and the replay buffer are long-lived tensors updated in place,
  ``load()`` included. The optimizers get ``capturable=True`` right before the first capture.
- **Outputs.** A replay overwrites its outputs: the skip flag is copied per step, the loss sums live in a static
  tensor zeroed at each update (read by ``update()`` before the next), the act step returns a copy of the actions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from stride.extensions.base import Extension
from stride.utils.cuda_graphs import GraphedCall, make_capturable
from stride.utils.distributed import is_distributed
from stride.utils.errors import ConfigError

if TYPE_CHECKING:
    from stride.algorithms.off_policy import OffPolicyAlgorithm

__all__ = ["OffPolicyGraphs", "check_capturable"]

logger = logging.getLogger(__name__)


def check_capturable(
    optimizer: str, device: torch.device, replay_device: torch.device, extensions: Sequence[Extension]
) -> None:
    """Refuse what the captured gradient step cannot hold.

    Args:
        optimizer: ``algorithm.optimizer``.
        device: The training device.
        replay_device: The replay buffer's device.
        extensions: The algorithm's extensions.

    Raises:
        ConfigError: Under torchrun, with RMSprop, with a host replay buffer beside a CUDA device, or with an
            extension that does not declare ``capturable``.
    """
    if is_distributed():
        raise ConfigError(
            "algorithm.cuda_graphs is single-process only: the gradient all-reduce of each step (a collective over "
            "the ranks) is not captured. Set algorithm.cuda_graphs=false under torchrun."
        )
    if optimizer == "rmsprop":
        raise ConfigError(
            "algorithm.cuda_graphs needs a fused optimizer (adam, adamw or sgd), got algorithm.optimizer='rmsprop': "
            "its skip of a non-finite step reads the host. Use 'adam', 'adamw' or 'sgd', or set "
            "algorithm.cuda_graphs=false."
        )
    if device.type == "cuda" and replay_device.type != device.type:
        raise ConfigError(
            f"algorithm.cuda_graphs needs the replay buffer on the training device ({device}), got "
            f"algorithm.replay_device={str(replay_device)!r}: a captured graph cannot copy a sampled batch from host "
            "memory. Set algorithm.replay_device=null (the training device), or algorithm.cuda_graphs=false."
        )
    for ext in extensions:
        if not getattr(ext, "capturable", False):
            raise ConfigError(
                f"algorithm.cuda_graphs: extension '{ext.name}' ({type(ext).__name__}) does not declare "
                "capturable = True, so it cannot run inside the captured gradient step. Set "
                "algorithm.cuda_graphs=false, or make its hooks graph-safe (tensors updated in place, no host reads, "
                "no Python branches on tensor values) and set the class attribute capturable = True."
            )


class OffPolicyGraphs:
    """The gradient step and the act step of one SAC or TD3 as CUDA graphs (eager on a CPU device).

    Built by :class:`~stride.algorithms.off_policy.OffPolicyAlgorithm` when ``cfg.cuda_graphs`` is set.

    Args:
        alg: The algorithm (its models, optimizers, buffer and extensions are used in place).

    Raises:
        ConfigError: See :func:`check_capturable`.
    """

    def __init__(self, alg: OffPolicyAlgorithm) -> None:
        self.alg = alg
        cfg, buffer = alg.cfg, alg.buffer
        check_capturable(cfg.optimizer, alg.device, buffer.device, alg.extensions)
        capture = alg.device.type == "cuda"
        if not capture:
            logger.warning(
                "algorithm.cuda_graphs needs a CUDA device; on %s the same static-buffer gradient step and act step "
                "run eagerly (the eager results, no speed-up).",
                alg.device,
            )
        # the gradient step's inputs: the drawn envs and start slots, the oldest slot (fixed addresses)
        self._env = torch.zeros(cfg.batch_size, dtype=torch.long, device=buffer.device)
        self._offset = torch.zeros(cfg.batch_size, dtype=torch.long, device=buffer.device)
        self._oldest = torch.zeros((), dtype=torch.long, device=buffer.device)
        self._sums = torch.zeros(len(alg.loss_keys) + len(alg.stat_keys), device=alg.device)
        self._starts = 1  # the start-slot bound of the current update (start_update)
        # one graph per host branch of the step: with the actor step (SAC, TD3's due steps) and without (TD3)
        self._steps = {due: GraphedCall(self._step_body, capture, self._make_capturable) for due in (True, False)}
        # the act step's input: the observations of the stored groups (allocated at the first call)
        self._obs: dict[str, torch.Tensor] = {}
        self._obs_layout: tuple[Any, ...] | None = None
        self._act = GraphedCall(self._act_body, capture)

    def reset(self) -> None:
        """Drop every graph; they are warmed up and captured again (e.g. after replacing a model's modules)."""
        for call in (*self._steps.values(), self._act):
            call.reset()
        self._obs, self._obs_layout = {}, None

    # ---------------------------------------------------------------------------------------------- update
    def start_update(self) -> torch.Tensor:
        """Prepare an update's gradient steps: the sums zeroed, the buffer's oldest slot and sampling bound read.

        Returns:
            The static sums the steps add to (``OffPolicyAlgorithm._gradient_steps``' ``sums``), valid until the
            next update.

        Raises:
            ConfigError: If the buffer holds no full n-step window yet.
        """
        buffer = self.alg.buffer
        self._starts = buffer.sampling_bound(self.alg.cfg.n_step)  # fixed while the update runs: nothing is stored
        self._oldest.fill_(buffer.oldest)
        self._sums.zero_()
        return self._sums

    def step(self) -> tuple[list[bool], torch.Tensor]:
        """One gradient step through its graph: ``OffPolicyAlgorithm._train_on`` on a batch drawn as ``sample`` draws.

        Returns:
            ``(present, skipped)`` as ``_train_on``; ``skipped`` is a copy (the graph's is overwritten by a replay).
        """
        # ReplayBuffer.sample's draws, in its order (randint(lo, hi) is random_(lo, hi) on a new tensor)
        self._env.random_(0, self.alg.buffer.num_envs)
        self._offset.random_(0, self._starts)
        present, skipped = self._steps[self.alg._actor_due()]()
        return present, skipped.clone()

    def _step_body(self) -> tuple[list[bool], torch.Tensor]:
        """The captured gradient step: gather the drawn transitions, then the eager update's per-step body."""
        alg = self.alg
        cfg = alg.cfg
        batch = alg.buffer.gather(self._env, self._offset, self._oldest, cfg.n_step, cfg.gamma)
        return alg._train_on(batch, self._sums)

    def _make_capturable(self) -> None:
        """Let the optimizers (the algorithm's and any extension's) be captured."""
        alg = self.alg
        make_capturable([*alg._optimizers().values(), *(getattr(e, "optimizer", None) for e in alg.extensions)])

    # ------------------------------------------------------------------------------------------------- act
    def explore(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The exploration policy's actions through the act graph (a copy). Shape: (num_envs, num_actions)."""
        groups = self.alg.buffer.groups
        layout = tuple((g, tuple(obs[g].shape), obs[g].dtype, obs[g].device) for g in groups)
        if layout != self._obs_layout:
            self._act.reset()  # new observation shapes: warm up and capture again
            # plain tensors even under inference mode: written in place from any mode
            with torch.inference_mode(False):
                self._obs = {g: torch.zeros(obs[g].shape, dtype=obs[g].dtype, device=obs[g].device) for g in groups}
            self._obs_layout = layout
        for g, buffer in self._obs.items():
            buffer.copy_(obs[g])
        return self._act().clone()

    def _act_body(self) -> torch.Tensor:
        """The captured act step: the noise drawn, then the (possibly compiled) exploration policy."""
        alg = self.alg
        return alg._explore_call(self._obs, alg._noise(alg.buffer.num_envs))
