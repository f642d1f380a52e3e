"""DAgger-style student–teacher distillation (rsl_rl's ``Distillation``, with an optional β mixture schedule).

The student acts in the environment; a frozen teacher (a PPO actor, reading privileged observations) labels every
visited state with its deterministic action; the student regresses its mean action onto those labels. Recurrent
students are trained with truncated back-propagation through time over windows of ``gradient_length`` steps.

Reference:
    Ross, Gordon, Bagnell. "A Reduction of Imitation Learning and Structured Prediction to No-Regret Online
    Learning." AISTATS 2011 (DAgger and its β-mixture policy).
    Lee et al. "Learning Quadrupedal Locomotion over Challenging Terrain." Science Robotics 2020 (teacher–student
    distillation of a privileged policy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional

from stride.algorithms.rsl_rl_surface import RslRlSurface
from stride.config.schema import DistillationCfg
from stride.config.strict import build
from stride.models.mlp_model import MLPModel, Observations
from stride.models.registry import build_model
from stride.modules.rnn import clone_hidden
from stride.storage import DistillationStorage
from stride.utils.compile import CompileMode, compiled
from stride.utils.distillation_checkpoint import (
    convert_rsl_rl_distillation_checkpoint,
    is_rsl_rl_distillation_checkpoint,
)
from stride.utils.distributed import all_reduce_gradients
from stride.utils.errors import ConfigError, NonFiniteError
from stride.utils.obs_groups import resolve_obs_groups
from stride.utils.optim import apply_schedule, check_schedule, load_optimizer_state, make_optimizer, step_unless
from stride.utils.rsl_rl_checkpoint import CONVERSION_NOTES_KEY
from stride.utils.state_match import mismatch_error, optimizer_state_mismatches, state_dict_mismatches

__all__ = ["Distillation", "behavior_loss", "beta_value"]

_CHECKED_TERMS = ("behavior loss", "student gradient norm")


def beta_value(iteration: int, beta: float, schedule: Literal["linear", "exponential"], decay_iterations: int) -> float:
    """β at an iteration: the probability that the teacher's action is executed instead of the student's.

    Args:
        iteration: Iterations learned so far (i >= 0).
        beta: β₀, the value at iteration 0, in [0, 1].
        schedule: ``"linear"``: β₀·(1 − i/D); ``"exponential"``: β₀·0.01^(i/D).
        decay_iterations: D >= 1; β is 0 from iteration D on.

    Returns:
        β_i in [0, β₀].
    """
    if beta <= 0.0 or iteration >= decay_iterations:
        return 0.0
    fraction = iteration / decay_iterations
    if schedule == "linear":
        # β_i = β₀·(1 − i/D)
        return beta * (1.0 - fraction)
    # β_i = β₀·0.01^(i/D): 1 % of β₀ left just before D, then 0
    return beta * 0.01**fraction


def behavior_loss(
    student_actions: torch.Tensor, teacher_actions: torch.Tensor, loss_type: Literal["mse", "huber"]
) -> torch.Tensor:
    """Behaviour-cloning loss between the student's mean actions and the teacher's, averaged over all entries.

    Args:
        student_actions: Shape: (N, A).
        teacher_actions: Shape: (N, A).
        loss_type: ``"mse"``: mean((a_s − a_t)²); ``"huber"``: mean of Huber(a_s − a_t) with δ = 1.

    Returns:
        0-d tensor.
    """
    if loss_type == "mse":
        return functional.mse_loss(student_actions, teacher_actions)
    return functional.huber_loss(student_actions, teacher_actions, delta=1.0)


class Distillation(RslRlSurface):
    """Train a student to imitate a frozen teacher on the states the student visits (DAgger).

    Args:
        student: Model read on the ``student`` observation set; its deterministic output is trained.
        teacher: Model read on the ``teacher`` observation set; frozen (no gradients, eval mode, normalizer fixed).
        storage: Rollout storage sized for the env batch.
        cfg: Algorithm settings.
        device: Where models and storage live.
        clip_actions: The runner's ``clip_actions``: when set, the teacher's labels are clipped to ±clip_actions like
            the executed actions, so the student learns the action the env receives.
    """

    def __init__(
        self,
        student: MLPModel,
        teacher: MLPModel,
        storage: DistillationStorage,
        cfg: DistillationCfg,
        device: str | torch.device = "cpu",
        clip_actions: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.student = student.to(self.device)
        self.teacher = teacher.to(self.device)
        # the teacher only labels states: no gradients, never trained, always in eval mode
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        # the model calls of the rollout and the update (compiled by compile(); the models themselves stay plain)
        self._student_act: Callable[[Observations], torch.Tensor] = partial(self.student, stochastic_output=True)
        self._student_forward: Callable[..., torch.Tensor] = self.student
        self._teacher_forward: Callable[..., torch.Tensor] = self.teacher
        self.storage = storage
        self.clip_actions = clip_actions
        self.teacher_loaded = False
        """Whether teacher weights were loaded (the runner refuses to learn before)."""
        check_schedule(cfg.schedule, cfg.schedule_iterations)
        self._lr = torch.tensor(cfg.learning_rate, dtype=torch.float32, device=self.device)
        params = [p for p in self.student.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("student: the model has no trainable parameters to distill into.")
        self.optimizer = make_optimizer(cfg.optimizer, params, self._lr)
        self._trainable = params
        self.num_updates = 0
        """Iterations learned so far: the position of the β schedule (saved in checkpoints)."""
        self.num_skipped_updates = 0
        self.last_beta = 0.0
        """β used in the last rollout that was learned from."""
        self.last_student_action_fraction = 1.0
        """Fraction of the last rollout's env steps that executed the student's action."""
        self._start_state: Any = None

    # ------------------------------------------------------------------------------------------ construction
    @classmethod
    def construct(
        cls,
        obs: Observations,
        num_envs: int,
        num_actions: int,
        num_steps_per_env: int,
        train_cfg: Mapping[str, Any],
        obs_groups: Mapping[str, Sequence[str]],
        device: str | torch.device,
        clip_actions: float | None = None,
    ) -> Distillation:
        """Build student, teacher, storage and the algorithm from an rsl_rl-style train_cfg (not modified).

        Raises:
            ConfigError: If the ``student`` or ``teacher`` section is missing or invalid.
        """
        cfg = build(DistillationCfg, train_cfg.get("algorithm", {}), "algorithm")
        groups = resolve_obs_groups(obs, obs_groups, ["student", "teacher"])
        models: list[MLPModel] = []
        for name in ("student", "teacher"):
            section = train_cfg.get(name)
            if section is None:
                example = "the PPO run's actor section" if name == "teacher" else "{'class_name': 'RNNModel', ...}"
                raise ConfigError(
                    f"train_cfg has no '{name}' section; the DistillationRunner needs one (e.g. {example})."
                )
            model = build_model(section, obs, groups, name, num_actions, name)
            if not isinstance(model, MLPModel):
                raise ConfigError(f"{name} must derive from stride.models.MLPModel, got {type(model).__name__}.")
            models.append(model)
        storage = DistillationStorage(num_envs, num_steps_per_env, obs, num_actions, device)
        return cls(models[0], models[1], storage, cfg, device, clip_actions)

    def compile(self, mode: CompileMode | None) -> None:
        """Compile the student's and the teacher's calls of the rollout and the update (rsl_rl's ``alg.compile``).

        Only the routed calls are compiled: ``self.student`` / ``self.teacher`` stay the plain modules, so state
        dicts, checkpoints, export and ``get_policy()`` are those of the eager run. The student's action sample is
        drawn outside the compiled region (from the compiled distribution parameters), so it consumes torch's
        generator exactly as the eager call does. None restores the eager calls.

        Raises:
            ConfigError: If ``mode`` is not one of :data:`~stride.utils.compile.COMPILE_MODES` or None.
        """
        student, distribution = self.student, self.student.distribution
        self._student_forward = compiled(student.forward, mode)
        self._teacher_forward = compiled(self.teacher.forward, mode)
        if mode is None:
            self._student_act = partial(student, stochastic_output=True)
        elif distribution is None:
            self._student_act = self._student_forward
        else:
            params = compiled(student.distribution_params, mode)
            self._student_act = lambda obs: distribution.sample(params(obs))

    # ------------------------------------------------------------------------------------------------ rollout
    @property
    def learning_rate(self) -> float:
        """Learning rate of the student (reads the device value)."""
        return float(self._lr)

    @property
    def beta(self) -> float:
        """β of the coming rollout (see :func:`beta_value`)."""
        cfg = self.cfg
        return beta_value(self.num_updates, cfg.beta, cfg.beta_schedule, cfg.beta_decay_iterations)

    @torch.no_grad()
    def act(self, obs: Observations) -> torch.Tensor:
        """The actions to execute: the student's, or with probability β per env the teacher's.

        The student samples from its distribution when it has one (as rsl_rl does), else acts deterministically.
        The teacher's deterministic action is stored as the label either way.

        Returns:
            Actions. Shape: (num_envs, num_actions).
        """
        if self.storage.step == 0:
            # the state the student starts this rollout from: the update replays the rollout from it
            self._start_state = self.student.get_hidden_state()
        student_actions = self._student_act(obs)
        teacher_actions = self._teacher_forward(obs)
        if self.clip_actions is not None:
            teacher_actions = teacher_actions.clamp(-self.clip_actions, self.clip_actions)
        beta = self.beta
        if beta > 0.0:
            teacher_acts = torch.rand(teacher_actions.shape[0], device=self.device) < beta
            actions = torch.where(teacher_acts.unsqueeze(-1), teacher_actions, student_actions)
        else:
            teacher_acts = torch.zeros(teacher_actions.shape[0], dtype=torch.bool, device=self.device)
            actions = student_actions
        self.storage.add_step(obs, teacher_actions, teacher_acts.to(torch.float32))
        return actions

    def process_env_step(
        self, obs: Observations, rewards: torch.Tensor, dones: torch.Tensor, extras: Mapping[str, Any]
    ) -> None:
        """Record the dones and reset the recurrent state of the envs whose episode ended (student and teacher)."""
        dones = dones.to(self.device)
        self.storage.add_dones(dones)
        self.student.reset(dones)
        self.teacher.reset(dones)

    def compute_returns(self, obs: Observations) -> None:
        """Nothing to do: distillation has no return targets."""

    # ------------------------------------------------------------------------------------------------- update
    def update(self, iteration: int | None = None) -> dict[str, float]:
        """Epochs of truncated-BPTT windows over the rollout in time order; then the student's normalizer update.

        Returns:
            ``behavior``: the mean behaviour loss over the rollout steps of the applied windows;
            ``skipped_updates``: windows not applied because their loss or gradient norm was NaN/inf.

        Raises:
            NonFiniteError: In ``nonfinite_update='raise'`` mode, when a window's loss or gradient norm was NaN/inf
                (its step was not applied).
        """
        cfg, st = self.cfg, self.storage
        # the linear schedule follows the iteration count the β schedule uses (saved in checkpoints)
        apply_schedule(self._lr, cfg.schedule, cfg.learning_rate, self.num_updates, cfg.schedule_iterations)
        num_steps = st.step
        window = cfg.gradient_length
        # a normal (not inference-mode) copy of the rollout's initial state, so autograd can start from it
        start = clone_hidden(self._start_state)
        loss_sum = torch.zeros((), device=self.device)
        applied_steps = torch.zeros((), device=self.device)
        flags: list[torch.Tensor] = []
        for _ in range(cfg.num_learning_epochs):
            # every epoch replays the rollout from the state the student started it in
            if start is not None:
                self.student.reset(hidden_state=clone_hidden(start))
            else:
                self.student.reset()
            for t0 in range(0, num_steps, window):
                t1 = min(t0 + window, num_steps)
                # L_window = Σ_t mean‖π_s(o_t) − a_teacher,t‖²   (or Huber), summed over the window as rsl_rl does
                window_loss = torch.zeros((), device=self.device)
                for t in range(t0, t1):
                    with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.use_mixed_precision):
                        actions = self._student_forward(st.observations[t])
                    window_loss = window_loss + behavior_loss(actions.float(), st.teacher_actions[t], cfg.loss_type)
                    # an episode that ended at t starts the next step from a zero state
                    self.student.reset(st.dones[t])
                bad = self._gradient_step(window_loss)
                skipped = bad.any()
                # a skipped window contributes nothing to the reported mean
                loss_sum += torch.where(skipped, torch.zeros_like(loss_sum), window_loss.detach())
                applied_steps += (~skipped).to(torch.float32) * (t1 - t0)
                flags.append(bad)
                # truncated BPTT: the next window does not back-propagate into this one
                self.student.detach_hidden_state()
        self.student.update_normalization(st.observations)
        bad_all = torch.stack(flags)
        # the one host read of the update: losses, the non-finite flags and the β mixture statistics
        stats = torch.cat(
            [torch.stack([loss_sum, applied_steps, st.teacher_acted[:num_steps].mean()]), bad_all.flatten()]
        )
        host = stats.tolist()
        bad_rows = host[3:]
        width = len(_CHECKED_TERMS)
        bad_windows = [i for i in range(len(flags)) if any(bad_rows[i * width : (i + 1) * width])]
        st.clear()
        if bad_windows and cfg.nonfinite_update == "raise":
            first = bad_windows[0]
            terms = [t for j, t in enumerate(_CHECKED_TERMS) if bad_rows[first * width + j]]
            where = f" of iteration {iteration}" if iteration is not None else ""
            raise NonFiniteError(
                f"non-finite {', '.join(terms)} in truncated-BPTT window {first}{where} ({len(bad_windows)} of "
                f"{len(flags)} windows affected); those steps were not applied. Check the observations and the "
                "teacher's actions for extreme values, lower the learning rate, or set "
                "algorithm.nonfinite_update='skip'."
            )
        self.num_skipped_updates += len(bad_windows)
        self.last_beta = self.beta
        self.last_student_action_fraction = 1.0 - host[2]
        self.num_updates += 1
        return {"behavior": host[0] / max(host[1], 1.0), "skipped_updates": float(len(bad_windows))}

    def _gradient_step(self, loss: torch.Tensor) -> torch.Tensor:
        """Back-propagate one window and step, unless the loss or gradient norm is not finite.

        Returns:
            The non-finite flags of ``_CHECKED_TERMS`` (on the device).
        """
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # multi-process: one all-reduce averages the gradients and the loss over the ranks (no-op in one process)
        loss_term = all_reduce_gradients(self._trainable, loss.detach().reshape(1)).reshape(())
        max_norm = self.cfg.max_grad_norm if self.cfg.max_grad_norm is not None else float("inf")
        grad_norm = nn.utils.clip_grad_norm_(self.student.parameters(), max_norm, foreach=True)
        bad = ~torch.isfinite(torch.stack([loss_term, grad_norm]))
        step_unless(self.optimizer, bad.any())
        return bad

    # --------------------------------------------------------------------------------------------- modes, I/O
    def train_mode(self) -> None:
        """Student in training mode; the teacher stays in eval mode."""
        self.student.train()
        self.teacher.eval()

    def eval_mode(self) -> None:
        """Both models in evaluation mode."""
        self.student.eval()
        self.teacher.eval()

    rsl_rl_parts: ClassVar[dict[str, str]] = {
        "student": "student",
        "teacher": "teacher",
        "optimizer": "optimizer",
        "iteration": "iteration",
    }

    def get_policy(self) -> MLPModel:
        """The student (its ``forward(obs)`` gives deterministic actions)."""
        return self.student

    def convert_checkpoint(self, data: Mapping[str, Any], strict: bool) -> tuple[dict[str, Any], list[str] | None]:
        """An rsl_rl distillation checkpoint in stride's layout; others are returned as they are.

        Returns:
            ``(data, notes)``; ``notes`` lists the conversions (None when nothing was converted).
        """
        # stride's own dicts carry a schema_version (checkpoints) or the β/recurrent state (alg.save())
        if "schema_version" in data or "distillation_state" in data or not is_rsl_rl_distillation_checkpoint(data):
            return dict(data), None
        converted = convert_rsl_rl_distillation_checkpoint(dict(data), self.student, self.teacher, strict)
        return converted, list(converted.pop(CONVERSION_NOTES_KEY, []))

    def state_dict(self) -> dict[str, Any]:
        """Student, teacher and optimizer states (rsl_rl's key names), plus the β position and recurrent states."""
        return {
            "student_state_dict": self.student.state_dict(),
            "teacher_state_dict": self.teacher.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "distillation_state": {
                "num_updates": self.num_updates,
                "student_hidden_state": clone_hidden(self.student.get_hidden_state()),
                "teacher_hidden_state": clone_hidden(self.teacher.get_hidden_state()),
            },
        }

    def load_state_dict(
        self, state: Mapping[str, Any], load_cfg: Mapping[str, bool] | None = None, strict: bool = True
    ) -> None:
        """Restore the parts ``load_cfg`` selects (all by default): student, teacher, optimizer, iteration.

        ``iteration`` covers the β schedule position and the recurrent states of the models; ``recurrent_state``
        false (a checkpoint made with another number of envs) keeps the models' current states. Every selected part
        is checked first; nothing changes unless all of them match.

        Raises:
            CheckpointError: Listing every missing key, unexpected key and shape mismatch of the selected parts.
        """
        parts = {"student": True, "teacher": True, "optimizer": True, "iteration": True, "recurrent_state": True}
        if load_cfg is not None:
            parts.update({k: bool(v) for k, v in load_cfg.items() if k in parts})
        problems: list[str] = []
        for name, model in (("student", self.student), ("teacher", self.teacher)):
            if parts[name]:
                problems += state_dict_mismatches(model.state_dict(), state.get(f"{name}_state_dict"), strict, name)
        if parts["optimizer"] and "optimizer_state_dict" in state:
            names = [f"student.{k}" for k, p in self.student.named_parameters() if p.requires_grad]
            problems += optimizer_state_mismatches(self.optimizer, state["optimizer_state_dict"], "optimizer", names)
        extra = state.get("distillation_state") if parts["iteration"] else None
        if isinstance(extra, Mapping) and parts["recurrent_state"]:
            problems += _hidden_state_mismatches(extra, self.storage.num_envs)
        if problems:
            raise mismatch_error(problems, strict)
        if parts["student"]:
            self.student.load_state_dict(state["student_state_dict"], strict=strict)
        if parts["teacher"]:
            self.teacher.load_state_dict(state["teacher_state_dict"], strict=strict)
            self.teacher_loaded = True
        if parts["optimizer"] and "optimizer_state_dict" in state:
            load_optimizer_state(self.optimizer, state["optimizer_state_dict"], self._lr)
        if isinstance(extra, Mapping):
            self.num_updates = int(extra.get("num_updates", 0))
        if isinstance(extra, Mapping) and parts["recurrent_state"]:
            for key, model in (("student_hidden_state", self.student), ("teacher_hidden_state", self.teacher)):
                hidden = extra.get(key)
                if hidden is not None:
                    model.reset(hidden_state=clone_hidden(hidden, self.device))
                else:
                    model.reset()


def _hidden_state_mismatches(extra: Mapping[str, Any], num_envs: int) -> list[str]:
    """Recurrent states saved for another number of envs cannot be restored."""
    problems: list[str] = []
    for key in ("student_hidden_state", "teacher_hidden_state"):
        hidden = extra.get(key)
        tensors = hidden if isinstance(hidden, tuple) else (hidden,) if hidden is not None else ()
        for tensor in tensors:
            if not isinstance(tensor, torch.Tensor) or tensor.dim() != 3 or tensor.shape[1] != num_envs:
                shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                problems.append(
                    f"distillation_state.{key}: checkpoint shape {shape}, expected (layers, {num_envs}, hidden) for "
                    "this env's num_envs; load with load_cfg={'student': True, 'teacher': True} to take the models only"
                )
    return problems
