"""The ``stride`` command line: train, play, plot, tasks, check-env."""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

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
    train.add_argument("--task", default=None, help="built-in task name (default: cartpole, or the config's task)")
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
    sub.add_parser("tasks", help="list the built-in tasks")
    return parser


def _experiment_dict(args: argparse.Namespace) -> dict[str, Any]:
    from stride.config.io import load_yaml, preset_path, set_value

    if args.config is not None:
        data = load_yaml(args.config)
    else:
        task = args.task or "cartpole"
        path = preset_path(task)
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


def _train(args: argparse.Namespace) -> int:
    from stride.config.io import ExperimentCfg, dump_yaml
    from stride.config.strict import build
    from stride.env.tasks import make_task
    from stride.runners import OnPolicyRunner
    from stride.runners.evaluate import evaluate_policy

    exp = build(ExperimentCfg, _experiment_dict(args))
    seed = exp.runner.get("seed", 1)
    env_kwargs = dict(exp.env)
    env_kwargs.setdefault("seed", seed if isinstance(seed, int) else 1)
    env = make_task(exp.task, device=args.device, **env_kwargs)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = args.run_dir or os.path.join("runs", exp.task, stamp)
    os.makedirs(run_dir, exist_ok=True)
    dump_yaml(exp, os.path.join(run_dir, "experiment.yaml"))
    runner = OnPolicyRunner(env, exp.runner, log_dir=run_dir, device=args.device)
    iterations = runner.cfg.max_iterations if runner.cfg.max_iterations is not None else 100
    runner.learn(iterations, init_at_random_ep_len=exp.init_at_random_ep_len)
    eval_env = make_task(exp.task, num_envs=min(64, env.num_envs), device=args.device, seed=10_000 + env_kwargs["seed"])
    result = evaluate_policy(eval_env, runner.get_inference_policy(), num_episodes=64)
    checkpoint = os.path.join(run_dir, f"model_{runner.current_learning_iteration}.pt")
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
