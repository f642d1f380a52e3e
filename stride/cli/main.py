"""The ``stride`` command line: train, distill, play, export, plot, tasks, check-env."""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from stride.cli.distill import add_distill_parser, run_distill
from stride.cli.export import add_export_parser, run_export
from stride.utils.errors import StrideError

__all__ = ["main"]

_RUNNER_SECTIONS = {"task", "env", "init_at_random_ep_len", "runner"}


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line, without the usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"stride: error: {message} (see '{self.prog} --help')\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="stride", description="Fast, strict RL for robot learning.")
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
    train.add_argument("--iterations", type=int, default=None, help="learning iterations")
    train.add_argument("--seed", type=int, default=None, help="random seed")
    train.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    train.add_argument("--run-dir", default=None, help="where to write the run (default: runs/<task>/<time>)")
    train.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue the run in RUN_DIR exactly")
    play = sub.add_parser("play", help="evaluate a trained policy deterministically")
    play.add_argument("run_dir", help="run directory (its latest checkpoint is used)")
    play.add_argument("--checkpoint", default=None, help="checkpoint file (default: the run's latest)")
    play.add_argument("--episodes", type=int, default=100, help="number of complete episodes")
    play.add_argument("--num-envs", type=int, default=64, help="parallel envs for evaluation")
    play.add_argument("--seed", type=int, default=12345, help="seed of the evaluation envs")
    play.add_argument("--device", default="cpu", help="torch device")
    plot = sub.add_parser("plot", help="plot learning curves of one or several runs to a PNG")
    plot.add_argument("run_dirs", nargs="+", help="run directories (or metrics.jsonl files)")
    plot.add_argument("--out", default="learning_curves.png", help="output PNG path")
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
    from stride.config.io import load_yaml, preset_path, set_value

    if args.config is not None:
        data = load_yaml(args.config)
    else:
        task = args.task or "cartpole"
        # every Gymnasium MuJoCo id shares one preset, not tuned per task
        path = preset_path("mujoco") if task.startswith("gym:") else preset_path(task)
        data: dict[str, Any] = load_yaml(path) if path is not None else {"task": task}
    if args.task is not None:
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


def _train(args: argparse.Namespace) -> int:
    from stride.config.io import ExperimentCfg, dump_yaml, load_experiment
    from stride.config.strict import build
    from stride.runners import OnPolicyRunner
    from stride.runners.evaluate import evaluate_policy
    from stride.utils.distributed import broadcast_object, resume_after_restart, setup_distributed

    # torchrun: join the job first (--device cuda means this rank's GPU); only rank 0 writes and prints
    device = _rank_device(args.device)
    dist = setup_distributed(device)
    checkpoint_in = None
    if args.resume is not None:
        run_dir = args.resume
        checkpoint_in = _latest_checkpoint(run_dir)
        exp = load_experiment(os.path.join(run_dir, "experiment.yaml"))
    else:
        exp = build(ExperimentCfg, _experiment_dict(args))
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        # Isaac Lab's layout: <experiment_name>/<time>_<run_name>
        experiment = exp.runner.get("experiment_name") or exp.task
        run_name = exp.runner.get("run_name") or ""
        run_dir = args.run_dir or os.path.join("runs", str(experiment), f"{stamp}_{run_name}" if run_name else stamp)
        run_dir = broadcast_object(run_dir)  # every rank uses rank 0's clock
    env = _build_env(exp, device, rank=dist.rank)
    # the runner validates the whole config before anything is written to disk
    runner = OnPolicyRunner(env, exp.runner, log_dir=run_dir, device=device)
    # after a torchrun restart (--max-restarts) the run continues from its latest checkpoint
    restarted = checkpoint_in is None and resume_after_restart(runner, run_dir) is not None
    if checkpoint_in is None and not restarted:
        if dist.is_main:
            os.makedirs(run_dir, exist_ok=True)
            dump_yaml(exp, os.path.join(run_dir, "experiment.yaml"))
    elif checkpoint_in is not None:
        runner.load(checkpoint_in)
    # a new run's --iterations is already its max_iterations; on resume it counts the iterations to add
    iterations = _iterations_to_run(runner, None if restarted else args.iterations)
    runner.learn(iterations, init_at_random_ep_len=exp.init_at_random_ep_len)
    if not dist.is_main:
        return 0
    eval_env = _build_env(exp, device, num_envs=min(64, env.num_envs), seed=10_000 + int(exp.runner.get("seed", 1)))
    result = evaluate_policy(eval_env, runner.get_inference_policy(), num_episodes=64)
    checkpoint = runner.checkpoint_path(runner.current_learning_iteration)
    out = sys.stdout
    out.write(f"\ntrained {exp.task} for {iterations} iterations ({runner.total_env_steps:,} env steps)\n")
    out.write(
        f"deterministic evaluation: return {result.mean_return:.1f} ± {result.std_return:.1f} "
        f"over {result.num_episodes} episodes\n"
    )
    out.write(f"checkpoint: {checkpoint}\n")
    out.write(f"metrics:    {os.path.join(run_dir, 'metrics.jsonl')}\n")
    out.write(f"plot:       {os.path.join(run_dir, 'learning_curve.png')}\n")
    out.write(f"tensorboard: tensorboard --logdir {run_dir}\n")
    return 0


def _load_run(run_dir: str, checkpoint: str | None, device: str, **env_overrides: Any) -> tuple[Any, Any, str]:
    """The experiment, a runner holding the run's trained policy, and the checkpoint it was loaded from.

    ``checkpoint`` defaults to the run's latest; a distillation run gets a ``DistillationRunner`` (its policy is the
    student). Only the models are restored (no optimizer, iteration, RNG or env state).
    """
    from stride.config.io import load_experiment
    from stride.config.schema import RUNNER_CLASS_NAMES
    from stride.runners import DistillationRunner, OnPolicyRunner

    exp = load_experiment(os.path.join(run_dir, "experiment.yaml"))
    checkpoint = checkpoint or _latest_checkpoint(run_dir)
    env = _build_env(exp, device, **env_overrides)
    distilled = RUNNER_CLASS_NAMES.get(str(exp.runner.get("class_name"))) == "DistillationRunner"
    runner_cls = DistillationRunner if distilled else OnPolicyRunner
    runner = runner_cls(env, exp.runner, log_dir=None, device=device)
    # the models (and extensions) only: rsl_rl's load_cfg restores exactly the parts named true
    models = {part: True for part in runner.load_parts if part not in ("optimizer", "iteration", "rng", "env")}
    runner.load(checkpoint, load_cfg=models)
    return exp, runner, checkpoint


def _play(args: argparse.Namespace) -> int:
    from stride.runners.evaluate import evaluate_policy

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
    return 0


def _plot(args: argparse.Namespace) -> int:
    from stride.logging import plot_learning_curves

    path = plot_learning_curves(args.run_dirs, args.out, key=args.key, labels=args.labels)
    sys.stdout.write(f"plot: {path}\n")
    return 0


def _check_env(args: argparse.Namespace) -> int:
    from stride.env.checker import check_env_target

    report = check_env_target(args.target, num_envs=args.num_envs, device=args.device, num_steps=args.steps)
    sys.stdout.write(report.summary().rstrip("\n") + "\n")
    return 0


def _tasks(_args: argparse.Namespace) -> int:
    from stride.env.tasks import list_tasks, task_class

    for name in list_tasks():
        cls = task_class(name)
        groups = ", ".join(f"{g}: {n}" for g, n in cls.observation_sizes.items())
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        sys.stdout.write(
            f"{name:12s} actions: {cls.action_size}  obs: {{{groups}}}  "
            f"horizon: {cls.default_max_episode_length}  {doc}\n"
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
