"""Replay Isaac Lab 3.0's and mjlab 1.6's rsl_rl workflows, with their own code, against a runner library.

Run as a script (one process per library and backend)::

    python replay.py --suite isaaclab --backend stride --site DIR --workdir TMP --out result.json

``--site`` holds the unpacked downstream wheels. ``--backend stride`` makes ``from rsl_rl.runners import ...``
resolve to ``stride.runners`` — the one-line change a user makes — and leaves every other ``rsl_rl`` import alone
(the downstream packages pin rsl-rl-lib, so it is installed beside stride). Each workflow step is run in order and
recorded as passed or failed with its error; the JSON lists every step and the checkpoint files each run wrote.

The steps follow the downstream entrypoints call by call: configs are the real task agent configs
(``isaaclab_tasks/**/agents/rsl_rl_*_cfg.py``, ``mjlab/tasks/**/rl_cfg.py``) passed through the real CLI override
and deprecation handling, envs are wrapped by the real ``RslRlVecEnvWrapper`` classes, runners are built by the
real ``create_rsl_rl_runner`` and mjlab runner subclasses. Only the simulator underneath is fake
(``fake_sim.FakeSimEnv``, with each task's observation groups and sizes).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import importlib
import io
import json
import os
import sys
import traceback
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from fake_sim import FakeSimEnv, install_import_stubs

ANYMAL_JOINTS = [f"{leg}_{joint}" for joint in ("HAA", "HFE", "KFE") for leg in ("LF", "LH", "RF", "RH")]


class Recorder:
    """Runs named steps, catching failures, and keeps the outcome of each."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.artifacts: dict[str, Any] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        record: dict[str, Any] = {"name": name, "passed": False, "error": None}
        self.steps.append(record)
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
            record["passed"] = True
        except BaseException as err:  # a failing step must not end the replay
            if isinstance(err, KeyboardInterrupt):
                raise
            record["error"] = f"{type(err).__name__}: {err}"[:600]
            record["trace"] = traceback.format_exc()[-2000:]
            raise _StepFailed from err

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` as step ``name``; returns its value or None when it failed."""
        try:
            with self.step(name):
                return fn()
        except _StepFailed:
            return None


class _StepFailed(Exception):
    pass


def ckpts(path: str) -> list[str]:
    if not os.path.isdir(path):
        return []
    return sorted((f for f in os.listdir(path) if f.endswith(".pt")), key=lambda f: (len(f), f))


def latest(path: str) -> str:
    files = [f for f in ckpts(path) if f.startswith("model_")]
    if not files:
        raise FileNotFoundError(f"no model_*.pt in {path}")
    return os.path.join(path, sorted(files, key=lambda f: int(f[6:-3]))[-1])


# ------------------------------------------------------------------------------------------------ Isaac Lab
ISAACLAB_PPO = [
    # name, agent config module, class, obs groups (per-env shapes), num_actions, env options
    ("anymal_d_rough", "core.velocity.config.anymal_d", "AnymalDRoughPPORunnerCfg", {"policy": [235]}, 12, {}),
    (
        "anymal_d_rough_symmetry",
        "core.velocity.config.anymal_d",
        "AnymalDRoughPPORunnerWithSymmetryCfg",
        {"policy": [235]},
        12,
        {"joint_names": ANYMAL_JOINTS, "terms": {"policy": ["base_lin_vel", "height_scan"]}},
    ),
    (
        "anymal_d_flat_lstm",
        "core.velocity.config.anymal_d",
        "AnymalDFlatPPORunnerRecurrentCfg",
        {"policy": [48]},
        12,
        {},
    ),
    ("h1_rough", "core.velocity.config.h1", "H1RoughPPORunnerCfg", {"policy": [256]}, 19, {}),
    ("g1_rough", "core.velocity.config.g1", "G1RoughPPORunnerCfg", {"policy": [310]}, 37, {}),
    (
        "franka_lift",
        "core.lift.config.franka",
        "FrankaPPORunnerCfg",
        {"policy": [9], "proprio": [18], "perception": [10]},
        8,
        {},
    ),
    (
        "cartpole_camera_cnn",
        "core.cartpole",
        "CartpoleCameraPPORunnerCfg",
        {"policy": [3, 96, 96], "critic": [4]},
        1,
        {},
    ),
    (
        "shadow_hand_lstm",
        "contrib.reorient.config.shadow_hand",
        "ShadowHandAsymLSTMPPORunnerCfg",
        {"policy": [157], "critic": [187]},
        20,
        {},
    ),
]
ISAACLAB_DISTILL = [
    ("anymal_d_distill_mlp", "AnymalDFlatDistillationRunnerCfg", {"policy": [48]}, 12),
    ("anymal_d_distill_lstm", "AnymalDFlatDistillationRunnerRecurrentCfg", {"policy": [48]}, 12),
]


def isaaclab_agent_cfg(module: str, cls_name: str, file: str = "rsl_rl_ppo_cfg") -> Any:
    mod = importlib.import_module(f"isaaclab_tasks.{module}.agents.{file}")
    return resolve_presets(getattr(mod, cls_name)())


def resolve_presets(cfg: Any) -> Any:
    """Isaac Lab's own preset resolution (``resolve_task_config`` does it before the runner sees the config)."""
    from isaaclab_tasks.utils.hydra import resolve_presets as resolve

    return resolve(cfg)


def isaaclab_prepare(cfg: Any, iterations: int, save_interval: int) -> Any:
    """What train_rsl_rl.py does to the agent config before building the runner."""
    from isaaclab_rl.entrypoints.backends import cli_args_rsl_rl as cli_args
    from isaaclab_rl.rsl_rl import handle_deprecated_rsl_rl_cfg
    from isaaclab_rl.rsl_rl.utils import check_rsl_rl_version

    args = types.SimpleNamespace(
        seed=7,
        resume=None,
        load_run=None,
        checkpoint=None,
        experiment_name=None,
        run_name=None,
        logger=None,
        log_project_name=None,
    )
    cfg = cli_args.update_rsl_rl_cfg(cfg, args)
    cfg = handle_deprecated_rsl_rl_cfg(cfg, check_rsl_rl_version())
    cfg.device = "cpu"
    cfg.max_iterations = iterations
    cfg.save_interval = save_interval
    return cfg


def isaaclab_env(groups: dict[str, list[int]], num_actions: int, num_envs: int, clip: Any, **options: Any) -> Any:
    from isaaclab_rl.rsl_rl import RslRlVecEnvWrapper

    return RslRlVecEnvWrapper(FakeSimEnv(groups, num_actions, num_envs, **options), clip_actions=clip)


def isaaclab_train_resume_play_export(
    rec: Recorder, name: str, cfg: Any, env_args: tuple[Any, ...], env_opts: dict[str, Any], workdir: str
) -> str | None:
    """train → checkpoints → resume (optimizer kept / reset) → play (50 envs) → export (1 env)."""
    from isaaclab_rl.entrypoints.backends import cli_args_rsl_rl as cli_args
    from isaaclab_rl.rsl_rl import create_rsl_rl_runner

    groups, num_actions = env_args
    log_dir = os.path.join(workdir, "isaaclab", name)
    runner_class = cfg.class_name
    state: dict[str, Any] = {}

    def build_train() -> None:
        env = isaaclab_env(groups, num_actions, 32, cfg.clip_actions, **env_opts)
        steps_before = env.unwrapped.num_steps
        state["env"] = env
        state["runner"] = create_rsl_rl_runner(env, cfg, log_dir=log_dir)
        if env.unwrapped.num_steps != steps_before:
            raise RuntimeError(f"building the runner stepped the env {env.unwrapped.num_steps - steps_before} times")

    rec.run(f"{name}/train: build runner without stepping the env", build_train)
    if "runner" not in state:
        return None
    runner = state["runner"]
    rec.run(f"{name}/train: add_git_repo_to_log", lambda: runner.add_git_repo_to_log(__file__))

    def learn() -> None:
        runner.learn(num_learning_iterations=cfg.max_iterations, init_at_random_ep_len=cfg.init_at_random_ep_len)

    rec.run(f"{name}/train: learn", learn)
    rec.artifacts[f"{name}/checkpoints"] = ckpts(log_dir)

    def resume(keep_optimizer: bool) -> None:
        env = isaaclab_env(groups, num_actions, 32, cfg.clip_actions, **env_opts)
        resumed = create_rsl_rl_runner(env, cfg, log_dir=log_dir + ("_resumed" if keep_optimizer else "_fresh_opt"))
        path = latest(log_dir)
        resumed.load(
            path,
            load_cfg=cli_args.checkpoint_load_cfg(keep_optimizer, runner_class=runner_class),
            map_location="cpu",
        )
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if resumed.current_learning_iteration != saved["iter"]:
            raise RuntimeError(
                f"iteration {resumed.current_learning_iteration} after load, checkpoint has {saved['iter']}"
            )
        resumed.learn(num_learning_iterations=1, init_at_random_ep_len=cfg.init_at_random_ep_len)

    rec.run(f"{name}/resume: load with optimizer and continue", lambda: resume(True))
    rec.run(f"{name}/resume: load without optimizer (--no-resume_optimizer_state) and continue", lambda: resume(False))

    def play() -> None:
        env = isaaclab_env(groups, num_actions, 50, cfg.clip_actions, **env_opts)
        player = create_rsl_rl_runner(env, cfg)
        player.load(latest(log_dir))
        policy = player.get_inference_policy(device=env.unwrapped.device)
        export_dir = os.path.join(log_dir, "exported")
        player.export_policy_to_jit(path=export_dir, filename="policy.pt")
        player.export_policy_to_onnx(path=export_dir, filename="policy.onnx")
        obs = env.get_observations()
        with torch.inference_mode():
            for _ in range(20):
                obs, _, dones, _ = env.step(policy(obs))
                policy.reset(dones)
        for f in ("policy.pt", "policy.onnx"):
            if not os.path.isfile(os.path.join(export_dir, f)):
                raise FileNotFoundError(f)

    rec.run(f"{name}/play: 50 envs, load, export jit+onnx, run policy with resets", play)

    def export_one_env() -> None:
        from isaaclab_rl.entrypoints.backends import export_rsl_rl as exp

        # the export backend turns TorchScript off at import (its own process traces with LEAPP); the play
        # entrypoint, which exports TorchScript, runs in another process: turn it back on for the next replays
        torch.jit._state.enable()
        env = isaaclab_env(groups, num_actions, 1, cfg.clip_actions, **env_opts)
        exporter = create_rsl_rl_runner(env, cfg)
        exporter.load(latest(log_dir))
        policy = exporter.get_inference_policy(device=env.unwrapped.device)
        recurrent = exp.is_actor_recurrent_policy(policy)
        obs = env.reset()[0]
        with torch.inference_mode():
            for _ in range(5):
                if recurrent:
                    hidden = exp.ensure_actor_hidden_state_initialized(
                        policy, batch_size=env.num_envs, device="cpu", dtype=next(policy.parameters()).dtype
                    )
                    exp.set_actor_hidden_state(policy, exp.actor_hidden_from_registered(hidden, hidden))
                actions = policy(obs)
                if recurrent:
                    exp.state_dict_from_actor_hidden(exp.get_actor_hidden_state(policy))
                obs, _, _, _ = env.step(actions)
        rec.artifacts[f"{name}/export_recurrent"] = recurrent

    rec.run(f"{name}/export: 1 env, load, step the policy as the export backend does", export_one_env)
    return latest(log_dir) if ckpts(log_dir) else None


def isaaclab_suite(rec: Recorder, workdir: str, backend: str, real_runners: Any) -> None:
    for name, module, cls_name, groups, num_actions, env_opts in ISAACLAB_PPO:
        cfg = rec.run(
            f"{name}/config: load, CLI overrides, deprecation handling",
            lambda m=module, c=cls_name: isaaclab_prepare(isaaclab_agent_cfg(m, c), 2, 1),
        )
        if cfg is None:
            continue
        ckpt = isaaclab_train_resume_play_export(rec, name, cfg, (groups, num_actions), env_opts, workdir)
        if backend == "stride" and ckpt is not None:
            cross_checks(rec, name, cfg, groups, num_actions, env_opts, ckpt, workdir, real_runners)
    for name, cls_name, groups, num_actions in ISAACLAB_DISTILL:
        isaaclab_distillation(rec, name, cls_name, groups, num_actions, workdir)


def isaaclab_distillation(
    rec: Recorder, name: str, cls_name: str, groups: dict[str, list[int]], num_actions: int, workdir: str
) -> None:
    """A PPO teacher with the distillation config's teacher architecture, then distill.py's flow."""
    from isaaclab.utils import to_dict
    from isaaclab_rl.entrypoints.backends import cli_args_rsl_rl as cli_args
    from isaaclab_rl.rsl_rl import create_rsl_rl_runner

    state: dict[str, Any] = {}

    def configs() -> None:
        distill = isaaclab_prepare(
            isaaclab_agent_cfg("core.velocity.config.anymal_d", cls_name, "rsl_rl_distillation_cfg"), 2, 1
        )
        teacher = isaaclab_prepare(isaaclab_agent_cfg("core.velocity.config.anymal_d", "AnymalDFlatPPORunnerCfg"), 1, 1)
        # the teacher was trained by PPO with the same actor architecture as the distillation config's teacher
        teacher_model = to_dict(distill.teacher)
        teacher.actor = copy.deepcopy(distill.teacher)
        teacher.actor.distribution_cfg = copy.deepcopy(distill.student.distribution_cfg)
        teacher.actor.distribution_cfg.init_std = 1.0
        if teacher_model.get("rnn_type"):
            teacher.critic = copy.deepcopy(distill.teacher)
            teacher.critic.distribution_cfg = None
        state["distill"], state["teacher"] = distill, teacher

    rec.run(f"{name}/config: distillation config and its PPO teacher config", configs)
    if "distill" not in state:
        return
    distill, teacher = state["distill"], state["teacher"]
    teacher_dir = os.path.join(workdir, "isaaclab", name + "_teacher")

    def train_teacher() -> None:
        env = isaaclab_env(groups, num_actions, 32, teacher.clip_actions)
        runner = create_rsl_rl_runner(env, teacher, log_dir=teacher_dir)
        runner.learn(num_learning_iterations=1)

    rec.run(f"{name}/teacher: PPO training of the teacher", train_teacher)
    log_dir = os.path.join(workdir, "isaaclab", name)

    def distill_run() -> None:
        env = isaaclab_env(groups, num_actions, 16, distill.clip_actions)
        runner = create_rsl_rl_runner(env, distill, log_dir=log_dir)
        runner.add_git_repo_to_log(__file__)
        runner.load(
            latest(teacher_dir),
            load_cfg=cli_args.checkpoint_load_cfg(True, runner_class="DistillationRunner"),
            map_location="cpu",
        )
        runner.learn(
            num_learning_iterations=distill.max_iterations, init_at_random_ep_len=distill.init_at_random_ep_len
        )

    rec.run(f"{name}/distill: build, load teacher from the PPO checkpoint, learn", distill_run)
    rec.artifacts[f"{name}/checkpoints"] = ckpts(log_dir)

    def resume(keep_optimizer: bool) -> None:
        env = isaaclab_env(groups, num_actions, 16, distill.clip_actions)
        runner = create_rsl_rl_runner(env, distill, log_dir=log_dir + "_resumed")
        runner.load(
            latest(log_dir),
            load_cfg=cli_args.checkpoint_load_cfg(keep_optimizer, runner_class="DistillationRunner"),
            map_location="cpu",
        )
        runner.learn(num_learning_iterations=1)

    rec.run(f"{name}/resume: distillation checkpoint with optimizer", lambda: resume(True))
    rec.run(f"{name}/resume: distillation checkpoint without optimizer", lambda: resume(False))

    def play() -> None:
        env = isaaclab_env(groups, num_actions, 50, distill.clip_actions)
        player = create_rsl_rl_runner(env, distill)
        player.load(latest(log_dir))
        policy = player.get_inference_policy(device="cpu")
        player.export_policy_to_jit(path=os.path.join(log_dir, "exported"), filename="policy.pt")
        player.export_policy_to_onnx(path=os.path.join(log_dir, "exported"), filename="policy.onnx")
        obs = env.get_observations()
        with torch.inference_mode():
            for _ in range(20):
                obs, _, dones, _ = env.step(policy(obs))
                policy.reset(dones)

    rec.run(f"{name}/play: student on 50 envs, export jit+onnx", play)


def cross_checks(
    rec: Recorder,
    name: str,
    cfg: Any,
    groups: dict[str, list[int]],
    num_actions: int,
    env_opts: dict[str, Any],
    stride_ckpt: str,
    workdir: str,
    real_runners: Any,
) -> None:
    """Checkpoints cross both ways: rsl_rl loads stride's, stride loads rsl_rl's (same config, same actions)."""
    from isaaclab.utils import to_dict
    from isaaclab_rl.rsl_rl import create_rsl_rl_runner

    obs_env = isaaclab_env(groups, num_actions, 8, cfg.clip_actions, **env_opts)
    obs = obs_env.get_observations()

    def rsl_rl_loads_stride() -> None:
        env = isaaclab_env(groups, num_actions, 8, cfg.clip_actions, **env_opts)
        theirs = real_runners.OnPolicyRunner(env, to_dict(cfg), log_dir=None, device="cpu")
        theirs.load(stride_ckpt, map_location="cpu")
        ours = create_rsl_rl_runner(isaaclab_env(groups, num_actions, 8, cfg.clip_actions, **env_opts), cfg)
        ours.load(stride_ckpt, map_location="cpu")
        with torch.inference_mode():
            a = theirs.get_inference_policy("cpu")(obs)
            b = ours.get_inference_policy("cpu")(obs)
        err = float((a - b).abs().max())
        if err > 1e-5:
            raise RuntimeError(f"actions differ by {err}")

    rec.run(f"{name}/cross: rsl_rl 5.5.1 loads stride's checkpoint (same actions)", rsl_rl_loads_stride)

    def stride_loads_rsl_rl() -> None:
        log_dir = os.path.join(workdir, "isaaclab", name + "_rsl_rl")
        env = isaaclab_env(groups, num_actions, 32, cfg.clip_actions, **env_opts)
        theirs = real_runners.OnPolicyRunner(env, to_dict(cfg), log_dir=log_dir, device="cpu")
        theirs.learn(num_learning_iterations=1)
        path = latest(log_dir)
        ours = create_rsl_rl_runner(isaaclab_env(groups, num_actions, 32, cfg.clip_actions, **env_opts), cfg)
        ours.load(path, map_location="cpu")
        theirs2 = real_runners.OnPolicyRunner(
            isaaclab_env(groups, num_actions, 8, cfg.clip_actions, **env_opts), to_dict(cfg), device="cpu"
        )
        theirs2.load(path, map_location="cpu")
        with torch.inference_mode():
            a = theirs2.get_inference_policy("cpu")(obs)
            b = ours.get_inference_policy("cpu")(obs)
        err = float((a - b).abs().max())
        if err > 1e-5:
            raise RuntimeError(f"actions differ by {err}")
        ours.get_inference_policy("cpu").reset()  # it ran on 8 envs; training runs on 32
        ours.learn(num_learning_iterations=1)

    rec.run(f"{name}/cross: stride loads rsl_rl 5.5.1's checkpoint (same actions) and trains on", stride_loads_rsl_rl)


def isaaclab_config_sweep(rec: Recorder) -> None:
    """Every runner config of every Isaac Lab task (``isaaclab_tasks/**/agents/rsl_rl_*cfg.py``): build and learn.

    Each config goes through the CLI overrides and the deprecation handling, then builds its runner on a fake env
    with the config's observation groups (8 values each) and learns one iteration (distillation configs: build only,
    they need a teacher). Configs with CNN models or symmetry functions need task-shaped observations (images, the
    robot's joint layout): the named scenarios above cover those.
    """
    import pathlib

    import isaaclab_tasks
    from isaaclab_rl.rsl_rl import RslRlBaseRunnerCfg, create_rsl_rl_runner

    root = pathlib.Path(isaaclab_tasks.__file__).parent
    for path in sorted(root.glob("**/agents/rsl_rl_*cfg.py")):
        module_name = "isaaclab_tasks." + ".".join(path.relative_to(root).with_suffix("").parts)
        text = path.read_text()
        if "cnn_cfg" in text or "CNNModel" in text or "symmetry_cfg=" in text:
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception:  # a task module that needs the simulator: not a runner question
            continue
        for cls_name, cls in sorted(vars(module).items()):
            if not isinstance(cls, type) or cls.__module__ != module.__name__:
                continue
            if not (issubclass(cls, RslRlBaseRunnerCfg) or hasattr(cls, "default")):
                continue
            name = f"sweep {module_name.removeprefix('isaaclab_tasks.')}.{cls_name}"

            def run(cls: type = cls) -> None:
                cfg = isaaclab_prepare(resolve_presets(cls()), 1, 1)
                groups = {"policy": [8]}
                obs_groups = cfg.obs_groups if isinstance(cfg.obs_groups, dict) else {}  # MISSING: rsl_rl's defaults
                for sets in obs_groups.values():
                    groups.update({str(g): [8] for g in sets})
                cfg.num_steps_per_env = min(int(cfg.num_steps_per_env), 16)
                env = isaaclab_env(groups, 4, 16, cfg.clip_actions)
                runner = create_rsl_rl_runner(env, cfg)
                if cfg.class_name == "OnPolicyRunner":
                    runner.learn(num_learning_iterations=1)

            rec.run(name, run)


def isaaclab_optimizer_test(rec: Recorder) -> None:
    """Isaac Lab's own test ``test_rsl_rl_checkpoint_preserves_selected_optimizer_state`` (run from its file)."""
    import pathlib
    import tempfile

    import isaaclab

    test_file = pathlib.Path(isaaclab.__file__).parent / "source" / "isaaclab_rl" / "test" / "test_entrypoints.py"
    source = test_file.read_text()
    start = source.index("def test_rsl_rl_checkpoint_preserves_selected_optimizer_state")
    end = source.find("\ndef ", start + 10)
    end = len(source) if end < 0 else end
    namespace: dict[str, Any] = {"torch": torch, "pytest": types.SimpleNamespace(importorskip=importlib.import_module)}
    from types import SimpleNamespace

    from isaaclab_rl.entrypoints.backends.cli_args_rsl_rl import checkpoint_load_cfg

    namespace.update(checkpoint_load_cfg=checkpoint_load_cfg, SimpleNamespace=SimpleNamespace)
    exec(compile(source[start:end], str(test_file), "exec"), namespace)  # the test function, verbatim
    test = namespace["test_rsl_rl_checkpoint_preserves_selected_optimizer_state"]
    for runner_class in ("OnPolicyRunner", "DistillationRunner"):
        for keep in (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                rec.run(
                    f"isaaclab test_entrypoints: checkpoint_preserves_selected_optimizer_state[{runner_class}-{keep}]",
                    lambda t=tmp, r=runner_class, k=keep: test(pathlib.Path(t), k, r),
                )


# ------------------------------------------------------------------------------------------------ mjlab
MJLAB = [
    (
        "go1_velocity",
        "mjlab.tasks.velocity.config.go1.rl_cfg",
        "unitree_go1_ppo_runner_cfg",
        "mjlab.tasks.velocity.rl.runner",
        "VelocityOnPolicyRunner",
        {"actor": [48], "critic": [51]},
        12,
    ),
    (
        "g1_tracking",
        "mjlab.tasks.tracking.config.g1.rl_cfg",
        "unitree_g1_tracking_ppo_runner_cfg",
        "mjlab.tasks.tracking.rl.runner",
        "MotionTrackingOnPolicyRunner",
        {"actor": [160], "critic": [286]},
        29,
    ),
]


def mjlab_suite(rec: Recorder, workdir: str) -> None:
    for task in MJLAB:
        mjlab_task(rec, workdir, *task)


def mjlab_task(
    rec: Recorder,
    workdir: str,
    name: str,
    cfg_mod: str,
    cfg_fn: str,
    runner_mod: str,
    runner_cls_name: str,
    groups: dict[str, list[int]],
    num_actions: int,
) -> None:
    """mjlab's scripts/train.py and scripts/play.py for one task, with the task's own runner class."""
    state: dict[str, Any] = {}

    def load(cm: str = cfg_mod, cf: str = cfg_fn, rm: str = runner_mod, rc: str = runner_cls_name) -> None:
        cfg = getattr(importlib.import_module(cm), cf)()
        cfg = dataclasses.replace(cfg, max_iterations=2, save_interval=1, logger="tensorboard")
        state["cfg"] = cfg
        state["runner_cls"] = getattr(importlib.import_module(rm), rc)

    rec.run(f"{name}/config: task rl_cfg and its runner class", load)
    if "cfg" not in state:
        return
    cfg, runner_cls = state["cfg"], state["runner_cls"]
    log_dir = os.path.join(workdir, "mjlab", name)

    def env(n: int, g: dict[str, list[int]] = groups, a: int = num_actions) -> Any:
        from mjlab.rl import RslRlVecEnvWrapper

        return RslRlVecEnvWrapper(FakeSimEnv(g, a, n), clip_actions=cfg.clip_actions)

    def train() -> None:
        e = env(32)
        steps = e.unwrapped.num_steps
        runner = runner_cls(e, dataclasses.asdict(cfg), log_dir, "cpu")
        if e.unwrapped.num_steps != steps:
            raise RuntimeError("building the runner stepped the env")
        runner.add_git_repo_to_log(__file__)
        runner.learn(num_learning_iterations=cfg.max_iterations, init_at_random_ep_len=True)

    rec.run(f"{name}/train: build runner (mutating train_cfg as mjlab does), learn", train)
    rec.artifacts[f"{name}/checkpoints"] = ckpts(log_dir)

    def onnx_on_save() -> None:
        path = os.path.join(log_dir, f"{os.path.basename(log_dir)}.onnx")
        if name == "go1_velocity" and not os.path.isfile(path):
            raise FileNotFoundError(f"{path} (VelocityOnPolicyRunner.save exports the policy on every save)")

    rec.run(f"{name}/train: policy exported to ONNX on save", onnx_on_save)

    def resume() -> None:
        e = env(32)
        runner = runner_cls(e, dataclasses.asdict(cfg), log_dir + "_resumed", "cpu")
        path = latest(log_dir)
        runner.load(path)
        if runner.current_learning_iteration != torch.load(path, weights_only=False)["iter"]:
            raise RuntimeError("iteration not restored")
        runner.learn(num_learning_iterations=1, init_at_random_ep_len=True)

    rec.run(f"{name}/resume: load (mjlab's load override) and continue", resume)

    def play() -> None:
        e = env(50)
        runner = runner_cls(e, dataclasses.asdict(cfg), device="cpu")
        runner.load(latest(log_dir), load_cfg={"actor": True}, strict=True, map_location="cpu")
        policy = runner.get_inference_policy(device="cpu")
        obs = e.get_observations()
        with torch.inference_mode():
            for _ in range(20):
                obs, _, dones, _ = e.step(policy(obs))
                policy.reset(dones)

    rec.run(f"{name}/play: 50 envs, load_cfg={{'actor': True}}, run the policy", play)

    def export() -> None:
        e = env(1)
        runner = runner_cls(e, dataclasses.asdict(cfg), device="cpu")
        runner.load(latest(log_dir), load_cfg={"actor": True}, strict=True, map_location="cpu")
        from mjlab.rl.runner import MjlabOnPolicyRunner

        MjlabOnPolicyRunner.export_policy_to_onnx(runner, os.path.join(log_dir, "exported"), "policy.onnx")
        runner.export_policy_to_jit(os.path.join(log_dir, "exported"), "policy.pt")

    rec.run(f"{name}/export: 1 env, mjlab's ONNX export call and the JIT export", export)


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", choices=["isaaclab", "mjlab"], required=True)
    parser.add_argument("--backend", choices=["rsl_rl", "stride"], required=True)
    parser.add_argument("--site", required=True, help="folder with the unpacked downstream wheels")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    install_import_stubs(args.site)
    sys.path.insert(0, args.site)
    real_runners = importlib.import_module("rsl_rl.runners")
    if args.backend == "stride":
        import stride.runners

        sys.modules["rsl_rl.runners"] = stride.runners  # the user's one-line change
    rec = Recorder()
    os.makedirs(args.workdir, exist_ok=True)
    if args.suite == "isaaclab":
        rec.run("isaaclab: replay", lambda: isaaclab_suite(rec, args.workdir, args.backend, real_runners))
        rec.run("isaaclab: test_entrypoints", lambda: isaaclab_optimizer_test(rec))
        rec.run("isaaclab: config sweep", lambda: isaaclab_config_sweep(rec))
    else:
        rec.run("mjlab: replay", lambda: mjlab_suite(rec, args.workdir))
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump({"steps": rec.steps, "artifacts": rec.artifacts}, handle, indent=1)


if __name__ == "__main__":
    main()
