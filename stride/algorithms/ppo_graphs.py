"""``algorithm.cuda_graphs``: PPO's act step and whole update captured as CUDA graphs and replayed.

A CUDA graph records the kernels of one call once and replays them with one launch: at 4,096 envs PPO is bound by
kernel launches and Python, not by arithmetic, so replaying removes most of an iteration's overhead. What a graph
needs, and how this module provides it:

- **Static buffers.** A replay reads and writes the addresses recorded at capture. Inputs are copied into
  preallocated tensors before each replay (the act step's observations and recurrent states, the update's
  mini-batch permutations); everything else the graphs touch (parameters, optimizer moments, the tensor learning
  rate, storage, normalizer statistics) is long-lived and only ever changed in place, ``load()`` included
  (:func:`stride.utils.optim.load_optimizer_state` copies into the live optimizer state).
- **The same code as eager.** The captured bodies are PPO's own ``_act`` (writing storage at a device step index)
  and ``_run_mini_batches`` over :meth:`RolloutStorage.mini_batches_from_permutations`; on a CPU device they run
  eagerly, which is how the default test tier checks them against ``PPO.act`` / ``PPO.update``.
- **Randomness.** The mini-batch permutations are drawn eagerly before each replay, with the calls the eager
  generator makes, in its order; action sampling runs inside the act graph, where torch's CUDA generator is
  graph-safe (each replay draws fresh numbers and advances the generator as the eager call does).
- **No data-dependent control flow** inside the bodies: the skip of a non-finite step happens on the device
  (``step_unless``), the adaptive learning rate is a ``torch.where``; the one host read of an update comes after
  the replay, in ``PPO._finish_update``.
- **Warm-up, then capture.** The first :data:`WARMUP_CALLS` calls run eagerly on a side stream (they are real act
  steps and real updates: lazy optimizer state, cuBLAS workspaces, ``torch.compile`` if set); the next call
  captures and then replays, so no call is wasted.
- **Outputs.** A replay overwrites its output tensors. :meth:`PPOGraphs.act` returns a copy of the actions (envs
  often keep the action tensor they are given); the recurrent states it installs in the models are the graph's
  output tensors, valid until the next ``act``; the update's outputs are read before the next replay.
- **Re-capture** happens when the act step's observation shapes change (:meth:`PPOGraphs.reset` forces it).

Recurrent models: the eager update cuts trajectories at dones (shapes depend on the data); the captured one trains
on whole env columns with the state zeroed after dones (:class:`~stride.storage.trajectories.SequenceStart`), the
same maths. With an extension or a CNN model beside a recurrent one, the act step is captured and the update runs
eagerly. Extensions run inside the captured update only when they declare ``capturable``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from stride.modules.rnn import map_hidden
from stride.storage.rollout_storage import Hidden
from stride.utils.cuda_graphs import WARMUP_CALLS, GraphedCall, make_capturable, on_side_stream
from stride.utils.distributed import is_distributed
from stride.utils.errors import ConfigError

if TYPE_CHECKING:
    from stride.algorithms.ppo import PPO

__all__ = ["WARMUP_CALLS", "GraphedCall", "PPOGraphs", "check_capturable", "on_side_stream"]

logger = logging.getLogger(__name__)


def check_capturable(alg: PPO) -> str | None:
    """Why the update cannot be captured (None: it can).

    Raises:
        ConfigError: For an extension that does not declare ``capturable`` or a multi-process run.
    """
    if is_distributed():
        raise ConfigError(
            "algorithm.cuda_graphs is single-process only: the update's gradient all-reduce is not captured. Set "
            "algorithm.cuda_graphs=false under torchrun."
        )
    if not alg.optimizer.defaults.get("fused"):
        raise ConfigError(
            f"algorithm.cuda_graphs needs a fused optimizer (adam, adamw or sgd), got "
            f"algorithm.optimizer={alg.cfg.optimizer!r}: its skip of a non-finite step reads the host. Use 'adam', "
            "'adamw' or 'sgd', or set algorithm.cuda_graphs=false."
        )
    if alg.is_recurrent:
        # env-column mini-batches (fixed shapes) need plain (T, M, ...) inputs: no extension, no CNN encoder
        if alg.extensions:
            names = ", ".join(ext.name for ext in alg.extensions)
            return f"recurrent models with extensions ({names}) train on trajectories cut at dones"
        if any(getattr(model, "cnns", None) is not None for model in (alg.actor, alg.critic)):
            return "a CNN model beside a recurrent one trains on trajectories cut at dones"
        return None
    for ext in alg.extensions:
        if not getattr(ext, "capturable", False):
            raise ConfigError(
                f"algorithm.cuda_graphs: extension '{ext.name}' ({type(ext).__name__}) does not declare "
                "capturable = True, so it cannot run inside the captured update. Set algorithm.cuda_graphs=false, "
                "or make its hooks graph-safe (tensors updated in place, no host reads, no Python branches on "
                "tensor values) and set the class attribute capturable = True."
            )
    return None


class PPOGraphs:
    """The act step and the update of one :class:`~stride.algorithms.ppo.PPO` as CUDA graphs.

    Built by PPO when ``cfg.cuda_graphs`` is set. On a CPU device the same static-buffer bodies run eagerly.

    Args:
        alg: The algorithm (its models, optimizer, storage and extensions are used in place).

    Raises:
        ConfigError: See :func:`check_capturable`.
    """

    def __init__(self, alg: PPO) -> None:
        self.alg = alg
        device = alg.device
        capture = device.type == "cuda"
        self.not_captured_update = check_capturable(alg)
        if not capture:
            logger.warning(
                "algorithm.cuda_graphs needs a CUDA device; on %s the same static-buffer act step and update run "
                "eagerly (the eager results, no speed-up).",
                device,
            )
        elif self.not_captured_update is not None:
            logger.info(
                "algorithm.cuda_graphs: the act step is captured, the update runs eagerly (%s).",
                self.not_captured_update,
            )
        storage = alg.storage
        # the update's inputs: one permutation of the flattened rollout per epoch, drawn before each replay
        # (recurrent models: one permutation of the envs per epoch)
        self._num_shuffled = storage.num_envs if alg.is_recurrent else storage.batch_size
        self._permutations = torch.zeros(
            alg.cfg.num_learning_epochs, self._num_shuffled, dtype=torch.long, device=device
        )
        # the act step's inputs: the storage step as a device index, the observations, the models' states
        self._step = torch.zeros(1, dtype=torch.long, device=device)
        self._obs: dict[str, torch.Tensor] = {}
        self._hidden_in: list[Hidden] = [None, None]
        self._obs_layout: tuple[Any, ...] | None = None
        self._act = GraphedCall(self._act_body, capture)
        self._update = GraphedCall(self._update_body, capture, self._make_capturable)

    @property
    def captures_update(self) -> bool:
        """Whether :meth:`update` replaces PPO's eager update (False: recurrent models with an extension or a CNN)."""
        return self.not_captured_update is None

    def reset(self) -> None:
        """Drop both graphs; they are warmed up and captured again (e.g. after replacing a model's modules)."""
        self._act.reset()
        self._update.reset()
        self._obs_layout = None
        self._obs = {}
        self._hidden_in = [None, None]

    # ------------------------------------------------------------------------------------------------- act
    def act(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``PPO.act`` through the act graph. Returns a copy of the actions. Shape: (num_envs, num_actions).

        Raises:
            ConfigError: If the rollout storage is already full.
        """
        alg = self.alg
        storage = alg.storage
        if storage.step >= storage.num_steps:
            raise ConfigError(f"rollout storage is full ({storage.num_steps} steps); call clear() after the update.")
        layout = tuple((key, tuple(value.shape), value.dtype) for key, value in obs.items())
        if layout != self._obs_layout and self._act.captured:
            self._act.reset()  # other observation shapes: capture again
        self._obs_layout = layout
        if self._act.capture and not (self._act.captured or self._act.ready_to_capture()):
            # warm-up: the eager act step on the caller's tensors, storage written at its own step
            return self._warmup_act(obs)[0]
        if not self._obs:
            # plain tensors even under inference mode: written in place from any mode
            with torch.inference_mode(False):
                self._obs = {key: torch.zeros_like(storage.obs[key][0]) for key in storage.obs}
                self._hidden_in = [_state_buffer(m, storage.num_envs, alg.device) for m in (alg.actor, alg.critic)]
        for key, buffer in self._obs.items():
            buffer.copy_(obs[key])
        self._step.fill_(storage.step)
        for model, buffer in zip((alg.actor, alg.critic), self._hidden_in, strict=True):
            if buffer is not None:
                _copy_state(buffer, model.get_hidden_state())
                model.reset(hidden_state=buffer)
        actions, actor_hidden, critic_hidden = self._act()
        for model, hidden in ((alg.actor, actor_hidden), (alg.critic, critic_hidden)):
            if model.is_recurrent:
                # the graph's output states: valid until the next act (reset(dones) replaces them out of place)
                model.reset(hidden_state=hidden)
        return actions.clone()

    def _warmup_act(self, obs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, Hidden, Hidden]:
        self._act.calls += 1
        return on_side_stream(lambda: self.alg._act(obs))

    def _act_body(self) -> tuple[torch.Tensor, Hidden, Hidden]:
        """The captured act step: static observations and states in, storage written at the device step."""
        return self.alg._act(self._obs, self._step)

    # ---------------------------------------------------------------------------------------------- update
    def update(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The mini-batch loop and the normalizer update through the update graph.

        Returns:
            What ``PPO._run_mini_batches`` returns (graph outputs: read them before the next update).
        """
        alg = self.alg
        # the permutations the eager generator would draw, in its order (nothing else in the loop draws numbers)
        for row in self._permutations:
            row.copy_(torch.randperm(self._num_shuffled, device=alg.device))
        return self._update()

    def _make_capturable(self) -> None:
        """Let the optimizers (PPO's, the extensions') be captured (set only now: eager steps keep the fast path)."""
        alg = self.alg
        make_capturable([alg.optimizer, *(getattr(e, "optimizer", None) for e in alg.extensions)])

    def _update_body(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        alg = self.alg
        num_mini_batches = alg.cfg.num_mini_batches
        if alg.is_recurrent:
            recurrent = (bool(alg.actor.is_recurrent), bool(alg.critic.is_recurrent))
            batches = alg.storage.recurrent_mini_batches_from_permutations(
                self._permutations, num_mini_batches, recurrent
            )
        else:
            batches = alg.storage.mini_batches_from_permutations(self._permutations, num_mini_batches)
        output = alg._run_mini_batches(batches)
        alg._update_normalizers()
        return output


def _state_buffer(model: Any, num_envs: int, device: torch.device) -> Hidden:
    """A zeroed static buffer shaped like a recurrent model's state (None for a feed-forward model)."""
    if not model.is_recurrent:
        return None
    hidden = model.get_hidden_state()
    if hidden is not None:
        return map_hidden(hidden, lambda h: torch.zeros_like(h, device=device))
    return model.rnn.zero_state(num_envs, device)


def _copy_state(buffer: Hidden, hidden: Hidden) -> None:
    """Copy ``hidden`` into ``buffer`` in place (zeros when the model holds no state: the RNN's own default)."""
    buffers = buffer if isinstance(buffer, tuple) else (buffer,)
    if hidden is None:
        for b in buffers:
            b.zero_()  # type: ignore[union-attr]
        return
    sources = hidden if isinstance(hidden, tuple) else (hidden,)
    for b, h in zip(buffers, sources, strict=True):
        if b is not h:
            b.copy_(h)  # type: ignore[union-attr]
