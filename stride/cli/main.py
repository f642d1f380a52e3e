"""The ``stride`` command line: train, distill, play, export, plot, tasks, check-env."""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from stride.cli.distill import add_distill_parser, run_distill
from stride.cli.export import add_export_parser, run_export
from stride.utils.errors import ConfigError, StrideError

__all__ = ["main"]

_RUNNER_SECTIONS = {"task", "env", "init_at_random_ep_len", "runner"}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default in --help where it has a meaningful one (not None, False or [])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if "default" in help_text or action.default in (None, False, [], argparse.SUPPRESS):
            return help_text
        return super()._get_help_string(action)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line, without the usage dump, and shows defaults in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"stride: error: {message} (see '{self.prog} --help')\n")


def _build_parser() -> argparse.ArgumentParser:
    import platform

    from stride import __version__
    from stride.cli.runtime import positive_int, threads_arg

    parser = _ArgumentParser(prog="stride", description="Fast, strict RL for robot learning.")
    parser.add_argument(
        "--version", action="version", version=f"stride {__version__} (Python {platform.python_version()})"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_ArgumentParser)
    train = sub.add_parser("train", help="train a policy (default: the cartpole preset)")
    train.add_argument(
        "--task",
        default=None,
        help="built-in task name or gym:<Gymnasium id> (default: cartpole, or the config's task)",
    )
    train.add_argument("--config", default=None, help="experiment YAML (default: the task's preset)")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field, e.g. algorithm.learning_rate=3e-4 or env.num_envs=512 (repeatable)",
    )
    train.add_argument("--num-envs", type=int, default=None, help="number of parallel envs")
    train.add_argument(
        "--iterations",
        type=positive_int,
        default=None,
        help="learning iterations this command runs: a new run's length, or with --resume the iterations added "
        "to the checkpoint's (default: the config's max_iterations; with --resume, what remains of it)",
    )
    train.add_argument("--seed", type=int, default=None, help="random seed")
    train.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    train.add_argument(
        "--threads",
        type=threads_arg,
        default=None,
        metavar="N|auto",
        help="torch CPU threads (default: auto = 1 on the CPU, torch's default beside a GPU)",
    )
    train.add_argument("--run-dir", default=None, help="where to write the run (default: runs/<task>/<time>)")
    train.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR exactly from its latest checkpoint (only --iterations, --device and "
        "--threads may be given with it)",
    )
    play = sub.add_parser("play", help="evaluate a trained policy deterministically")
    play.add_argument("run_dir", help="run directory (its latest checkpoint is used)")
    play.add_argument("--checkpoint", default=None, help="checkpoint file (default: the run's latest)")
    play.add_argument("--episodes", type=int, default=100, help="number of complete episodes")
    play.add_argument("--num-envs", type=int, default=64, help="parallel envs for evaluation")
    play.add_argument("--seed", type=int, default=12345, help="seed of the evaluation envs")
    play.add_argument("--device", default="cpu", help="torch device")
    play.add_argument(
        "--video",
        default=None,
        metavar="PATH",
        help="also record one deterministic episode to PATH (.mp4, or .gif; needs pip install 'stride-rl[video]')",
    )
    plot = sub.add_parser("plot", help="plot learning curves of one or several runs to a PNG")
    plot.add_argument("run_dirs", nargs="+", help="run directories (or metrics.jsonl files)")
    plot.add_argument(
        "--out",
        default=None,
        help="output PNG path (default: <run>/learning_curves.png for one run, else ./learning_curves.png)",
    )
    plot.add_argument("--key", default="Train/mean_reward", help="metric to plot")
    plot.add_argument("--labels", nargs="*", default=None, help="one label per run (runs sharing one are averaged)")
    add_distill_parser(sub)
    add_export_parser(sub)
    sub.add_parser("tasks", help="list the built-in tasks")
    check = sub.add_parser("check-env", help="validate an env against the VecEnv contract")
    check.add_argument("target", help="built-in task name, or module:factory returning a VecEnv")
    check.add_argument("--num-envs", type=int, default=4, help="envs to build")
    check.add_argument("--device", default="cpu", help="torch device")
    check.add_argument("--steps", type=int, default=3, help="steps to take")
    return parser


def _experiment_dict(args: argparse.Namespace) -> dict[str, Any]:
    from stride.config.io import load_yaml, preset_for_task, set_value

    named_preset = False
    if args.config is not None:
        data = load_yaml(args.config)
    else:
        task = args.task or "cartpole"
        # a Gymnasium id: its own tuned preset when one ships (mujoco-halfcheetah.yaml), else mujoco.yaml
        path = preset_for_task(task)
        data: dict[str, Any] = load_yaml(path) if path is not None else {"task": task}
        # a preset named after its algorithm (pendulum-sac) names its task inside
        named_preset = path is not None and not task.startswith("gym:") and data.get("task") not in (None, task)
    if args.task is not None and not named_preset:
        data["task"] = args.task
    data.setdefault("env", {})
    data.setdefault("runner", {})
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StrideError(f"--set expects KEY=VALUE, got '{item}'.")
        top = key.split(".", 1)[0]
        set_value(data, key if top in _RUNNER_SECTIONS else f"runner.{key}", value)
    env_section, runner_section = data["env"], data["runner"]
    if not isinstance(env_section, dict) or not isinstance(runner_section, dict):
        raise StrideError("the experiment's 'env' and 'runner' entries must be mappings.")
    if args.num_envs is not None:
        env_section["num_envs"] = args.num_envs
    if args.seed is not None:
        runner_section["seed"] = args.seed
    if args.iterations is not None:
        runner_section["max_iterations"] = args.iterations
    return data


def _latest_checkpoint(run_dir: str) -> str:
    """The ``model_<N>.pt`` of a run with the largest N."""
    from stride.utils.checkpoint import latest_checkpoint

    if not os.path.isdir(run_dir):
        raise StrideError(f"run directory '{run_dir}' does not exist.")
    found = latest_checkpoint(run_dir)
    if found is None:
        raise StrideError(f"run directory '{run_dir}' holds no model_<N>.pt checkpoint.")
    return found


def _build_env(exp: Any, device: str, rank: int = 0, **overrides: Any) -> Any:
    from stride.env.tasks import make_task

    seed = exp.runner.get("seed", 1)
    kwargs = dict(exp.env)
    # under torchrun every rank steps its own envs, seeded with seed + rank
    kwargs.setdefault("seed", (seed if isinstance(seed, int) else 1) + rank)
    kwargs.update(overrides)
    return make_task(exp.task, device=device, **kwargs)


def _rank_device(device: str) -> str:
    """``cuda`` under torchrun means this rank's GPU, ``cuda:{LOCAL_RANK}``; any other device is kept."""
    if device == "cuda" and os.environ.get("LOCAL_RANK") is not None:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def _iterations_to_run(runner: Any, more: int | None) -> int:
    """Iterations for ``learn``: ``more`` if given, else what remains of the planned run.

    The plan is ``max_iterations`` (100 when unset), counted from the runner's iteration (0 for a new run, the
    loaded one on resume).
    """
    planned = runner.runner_cfg.max_iterations if runner.runner_cfg.max_iterations is not None else 100
    return more if more is not None else max(planned - runner.current_learning_iteration, 0)


def _nothing_to_do(run_dir: str, runner: Any, out: Any) -> int:
    """Say that a resumed run has reached its planned end (nothing is trained or written); returns exit code 0."""
    out.write(
        f"{run_dir} is at iteration {runner.current_learning_iteration}, the end of its planned run "
        f"(max_iterations {runner.runner_cfg.max_iterations or 100}); nothing to do. "
        "Pass --iterations N to train N more.\n"
    )
    return 0


def _runner_class(runner_cfg: Any) -> Any:
    """The runner class the config's ``class_name`` names (OnPolicyRunner when absent)."""
    from stride.config.schema import RUNNER_CLASS_NAMES
    from stride.runners import DistillationRunner, OffPolicyRunner, OnPolicyRunner

    classes = {
        "OnPolicyRunner": OnPolicyRunner,
        "DistillationRunner": DistillationRunner,
        "OffPolicyRunner": OffPolicyRunner,
    }
    return classes.get(RUNNER_CLASS_NAMES.get(str(runner_cfg.get("class_name", "OnPolicyRunner")), ""), OnPolicyRunner)


def _train(args: argparse.Namespace) -> int:
    from stride.cli.runtime import choose_threads, command_line, load_run, refuse_resume_options
    from stride.config.io import ExperimentCfg, dump_yaml
    from stride.config.strict import build
    from stride.runners.evaluate import evaluate_policy
    from stride.utils.distributed import broadcast_object, resume_after_restart, setup_distributed

    # torchrun: join the job first (--device cuda means this rank's GPU); only rank 0 writes and prints
    device = _rank_device(args.device)
    dist = setup_distributed(device)
    checkpoint_in = None
    if args.resume is not None:
        refuse_resume_options(args, "train")
        run_dir = args.resume
        exp = load_run(run_dir)
        checkpoint_in = _latest_checkpoint(run_dir)
    else:
        with _naming_source(args):
            exp = build(ExperimentCfg, _experiment_dict(args))
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        # Isaac Lab's layout: <experiment_name>/<time>_<run_name>
        experiment = exp.runner.get("experiment_name") or exp.task
        run_name = exp.runner.get("run_name") or ""
        run_dir = args.run_dir or os.path.join("runs", str(experiment), f"{stamp}_{run_name}" if run_name else stamp)
        run_dir = broadcast_object(run_dir)  # every rank uses rank 0's clock
    threads, reason = choose_threads(exp.task, device, args.threads)
    env = _build_env(exp, device, rank=dist.rank)
    # the runner validates the whole config before anything is written to disk
    with _naming_source(args):
        runner = _runner_class(exp.runner)(env, exp.runner, log_dir=run_dir, device=device)
    out = sys.stdout
    # after a torchrun restart (--max-restarts) the run continues from its latest checkpoint
    restarted = checkpoint_in is None and resume_after_restart(runner, run_dir) is not None
    if checkpoint_in is None and not restarted:
        if dist.is_main:
            os.makedirs(run_dir, exist_ok=True)
            dump_yaml(exp, os.path.join(run_dir, "experiment.yaml"))
    elif checkpoint_in is not None:
        runner.load(checkpoint_in)
    # --iterations counts the iterations this command runs, in both modes (a new run starts at 0); a torchrun
    # restart runs what is left of the plan
    iterations = _iterations_to_run(runner, None if restarted else args.iterations)
    if iterations == 0:
        return _nothing_to_do(run_dir, runner, out)
    start = runner.current_learning_iteration
    if dist.is_main:
        out.write(
            f"stride train: {exp.task} on {device}, {threads} CPU thread(s) ({reason}; --threads N to change), "
            f"iterations {start}..{start + iterations}, run {run_dir}\n"
        )
        out.flush()
    runner.learn(iterations, init_at_random_ep_len=exp.init_at_random_ep_len)
    if not dist.is_main:
        return 0
    eval_env = _build_env(exp, device, num_envs=min(64, env.num_envs), seed=10_000 + int(exp.runner.get("seed", 1)))
    result = evaluate_policy(eval_env, runner.get_inference_policy(), num_episodes=64)
    checkpoint = runner.checkpoint_path(runner.current_learning_iteration)
    done = (
        f"trained {exp.task} for {iterations} iterations"
        if checkpoint_in is None
        else f"resumed {exp.task} for {iterations} more iterations, now at {runner.current_learning_iteration}"
    )
    out.write(f"\n{done} ({runner.total_env_steps:,} env steps)\n")
    out.write(
        f"deterministic evaluation: return {result.mean_return:.1f} ± {result.std_return:.1f} "
        f"over {result.num_episodes} episodes\n"
    )
    out.write(f"checkpoint: {checkpoint}\n")
    out.write(f"metrics:    {os.path.join(run_dir, 'metrics.jsonl')}\n")
    out.write(f"plot:       {os.path.join(run_dir, 'learning_curve.png')}\n")
    out.write(f"play:       {command_line('stride', 'play', run_dir)}\n")
    out.write(f"tensorboard: {command_line('tensorboard', '--logdir', run_dir)}\n")
    return 0


@contextlib.contextmanager
def _naming_source(args: argparse.Namespace) -> Iterator[None]:
    """Prefix a ``ConfigError`` with the experiment file it came from (and the ``--set`` overrides, if any)."""
    try:
        yield
    except ConfigError as err:
        if args.resume is not None:
            source = os.path.join(args.resume, "experiment.yaml")
        else:
            task = args.task or "cartpole"
            source = args.config or f"the {'mujoco' if task.startswith('gym:') else task} preset"
        overrides = " with the --set overrides" if getattr(args, "set", None) else ""
        raise ConfigError(f"in {source!r}{overrides}: {err}") from err


def _load_run(run_dir: str, checkpoint: str | None, device: str, **env_overrides: Any) -> tuple[Any, Any, str]:
    """The experiment, a runner holding the run's trained policy, and the checkpoint it was loaded from.

    ``checkpoint`` defaults to the run's latest; a distillation run gets a ``DistillationRunner`` (its policy is the
    student), an off-policy run an ``OffPolicyRunner``. Only the models are restored (no optimizer, iteration, RNG,
    env state or replay buffer).
    """
    from stride.cli.runtime import load_run

    exp = load_run(run_dir)
    checkpoint = checkpoint or _latest_checkpoint(run_dir)
    env = _build_env(exp, device, **env_overrides)
    runner = _runner_class(exp.runner)(env, exp.runner, log_dir=None, device=device)
    # the models (and extensions) only: rsl_rl's load_cfg restores exactly the parts named true
    skipped = ("optimizer", "iteration", "rng", "env", "replay_buffer")
    models = {part: True for part in runner.load_parts if part not in skipped}
    runner.load(checkpoint, load_cfg=models)
    return exp, runner, checkpoint


def _play(args: argparse.Namespace) -> int:
    from stride.runners.evaluate import evaluate_policy

    if args.video is not None:
        from stride.cli.runtime import load_run
        from stride.cli.video import check_video_path

        check_video_path(args.video)  # before the policy is loaded: a missing encoder or bad path fails fast
        if str(load_run(args.run_dir).task).startswith("gym:") and not os.environ.get("DISPLAY"):
            # MuJoCo picks its OpenGL backend when Gymnasium's MuJoCo envs are imported: headless needs EGL
            os.environ.setdefault("MUJOCO_GL", "egl")
    exp, runner, checkpoint = _load_run(
        args.run_dir, args.checkpoint, args.device, num_envs=args.num_envs, seed=args.seed
    )
    env = runner.env
    policy = runner.get_inference_policy()
    # a recurrent policy is reset before the first step and on every done by evaluate_policy
    result = evaluate_policy(env, policy, num_episodes=args.episodes)
    sys.stdout.write(
        f"{exp.task}: return {result.mean_return:.2f} ± {result.std_return:.2f}, "
        f"length {result.mean_length:.1f} ± {result.std_length:.1f} over {result.num_episodes} episodes "
        f"({os.path.basename(checkpoint)}, deterministic actions)\n"
    )
    if args.video is not None:
        from stride.cli.video import record_video

        video_env = _build_env(exp, args.device, num_envs=1, seed=args.seed, **_render_kwargs(exp))
        written, frames, episode_return = record_video(video_env, policy, args.video)
        sys.stdout.write(f"video: {written} ({frames} frames, one episode, return {episode_return:.2f})\n")
    return 0


def _render_kwargs(exp: Any) -> dict[str, Any]:
    """Constructor options a task needs to render frames (a Gymnasium env renders only when built to)."""
    if not str(exp.task).startswith("gym:"):
        return {}
    return {"env_kwargs": {**dict(exp.env.get("env_kwargs") or {}), "render_mode": "rgb_array"}}


def _plot(args: argparse.Namespace) -> int:
    from stride.logging import plot_learning_curves

    out = args.out
    if out is None:
        # one run: next to it; several: here, since no run owns the comparison
        single = args.run_dirs[0] if len(args.run_dirs) == 1 else None
        folder = (single if os.path.isdir(single) else os.path.dirname(single)) if single is not None else ""
        out = os.path.join(folder, "learning_curves.png")
    path = plot_learning_curves(args.run_dirs, out, key=args.key, labels=args.labels)
    sys.stdout.write(f"plot: {path}\n")
    return 0


def _check_env(args: argparse.Namespace) -> int:
    from stride.env.checker import check_env_target

    report = check_env_target(args.target, num_envs=args.num_envs, device=args.device, num_steps=args.steps)
    sys.stdout.write(report.summary().rstrip("\n") + "\n")
    return 0


def _tasks(_args: argparse.Namespace) -> int:
    from stride.env.tasks import list_tasks, task_class

    rows = [("task", "actions", "observations", "horizon", "description")]
    for name in list_tasks():
        cls = task_class(name)
        groups = ", ".join(f"{g}: {n}" for g, n in cls.observation_sizes.items())
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        rows.append((name, str(cls.action_size), groups, str(cls.default_max_episode_length), doc))
    # every column as wide as its widest cell, so long task names keep the columns aligned
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[4]]).rstrip() + "\n")
    sys.stdout.write(
        "\nGymnasium ids run as gym:<id>, e.g. stride train --task gym:HalfCheetah-v5 (pip install 'stride-rl[gym]')\n"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stride`` command.

    Returns:
        Process exit code: 0 on success, 2 on bad input (one line on stderr, no traceback).
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = args.command or "train"
    if args.command is None:
        args = parser.parse_args(["train", *(argv or [])])
    try:
        if hasattr(args, "device"):
            from stride.cli.runtime import check_device

            check_device(args.device)
        if command == "train":
            return _train(args)
        if command == "tasks":
            return _tasks(args)
        if command == "distill":
            return run_distill(args)
        if command == "play":
            return _play(args)
        if command == "export":
            return run_export(args)
        if command == "check-env":
            return _check_env(args)
        if command == "plot":
            return _plot(args)
    except StrideError as err:
        sys.stderr.write(f"stride: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("stride: interrupted\n")
        return 130
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
