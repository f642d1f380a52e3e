"""``stride distill``: distill the policy of a PPO run into a student that sees less (DAgger).

``stride distill --teacher RUN_DIR --task T`` reads the teacher run's ``experiment.yaml`` and latest checkpoint,
builds the ``teacher`` section from them (the PPO actor's model config, observation groups and normalizer), takes
the rest of the experiment from ``--config``, the task's ``<task>-distill`` preset or the generic ``distill``
preset (a GRU student on the ``policy`` group), trains with the ``DistillationRunner`` and reports the student's
and the teacher's deterministic returns.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
from typing import Any

from stride.cli.runtime import positive_int, threads_arg
from stride.utils.errors import StrideError

__all__ = ["add_distill_parser", "run_distill"]


def add_distill_parser(sub: Any) -> None:
    """Register the ``distill`` subcommand on the CLI's subparsers."""
    distill = sub.add_parser("distill", help="distill a PPO run's policy into a student (DAgger)")
    start = distill.add_mutually_exclusive_group(required=True)
    start.add_argument("--teacher", metavar="RUN_DIR", help="run directory of the PPO teacher")
    start.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the distillation run in RUN_DIR exactly (its experiment.yaml and latest checkpoint)",
    )
    distill.add_argument("--task", default=None, help="built-in task name (default: the teacher run's task)")
    distill.add_argument(
        "--config", default=None, help="experiment YAML (default: the '<task>-distill' preset, else 'distill')"
    )
    distill.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field, e.g. algorithm.learning_rate=3e-4 or student.rnn_hidden_dim=128 (repeatable)",
    )
    distill.add_argument("--num-envs", type=int, default=None, help="number of parallel envs")
    distill.add_argument(
        "--iterations",
        type=positive_int,
        default=None,
        help="learning iterations this command runs: a new run's length, or with --resume the iterations added "
        "to the checkpoint's (default: the config's max_iterations; with --resume, what remains of it)",
    )
    distill.add_argument("--seed", type=int, default=None, help="random seed")
    distill.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    distill.add_argument(
        "--threads",
        type=threads_arg,
        default=None,
        metavar="N|auto",
        help="torch CPU threads (default: auto = 1 on the CPU, torch's default beside a GPU)",
    )
    distill.add_argument("--run-dir", default=None, help="where to write the run (default: runs/<name>/<time>)")


def teacher_section(teacher_exp: Any, checkpoint: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The teacher model section and observation groups of a PPO run.

    Args:
        teacher_exp: The run's ``ExperimentCfg``.
        checkpoint: Its loaded checkpoint (``obs_spec`` names the groups the actor read, in order).

    Returns:
        ``(teacher section, teacher observation groups)``: the PPO actor's section unchanged (class, sizes,
        normalization, distribution), and the groups the actor was trained on.

    Raises:
        StrideError: If the run is not a PPO run.
    """
    from stride.config.schema import RUNNER_CLASS_NAMES

    runner = teacher_exp.runner
    if RUNNER_CLASS_NAMES.get(str(runner.get("class_name", "OnPolicyRunner"))) != "OnPolicyRunner":
        raise StrideError(
            f"the teacher run was trained by {runner.get('class_name')!r}; expected a PPO (OnPolicyRunner) run."
        )
    spec = checkpoint.get("obs_spec")
    if isinstance(spec, dict) and isinstance(spec.get("actor"), dict):
        groups = [str(g) for g in spec["actor"]]
    else:
        groups = list((runner.get("obs_groups") or {}).get("actor") or ["policy"])
    return dict(runner.get("actor") or {"class_name": "MLPModel"}), groups


def run_distill(args: argparse.Namespace) -> int:
    """Run ``stride distill`` (see the module docstring).

    Returns:
        Exit code 0.

    Raises:
        StrideError: On bad input (missing run, bad config), reported by the CLI as one line.
    """
    from stride.cli.main import (
        _build_env,
        _experiment_dict,
        _iterations_to_run,
        _latest_checkpoint,
        _naming_source,
        _rank_device,
    )
    from stride.cli.runtime import choose_threads, load_run
    from stride.config.io import ExperimentCfg, dump_yaml, preset_path
    from stride.config.strict import build
    from stride.runners import DistillationRunner
    from stride.utils.checkpoint import load_checkpoint
    from stride.utils.distributed import broadcast_object, setup_distributed

    # torchrun: join the job first (--device cuda means this rank's GPU); only rank 0 writes and prints
    args.device = _rank_device(args.device)
    dist = setup_distributed(args.device)
    if args.resume is not None:
        return _resume(args)
    teacher_exp = load_run(args.teacher)
    teacher_checkpoint = _latest_checkpoint(args.teacher)
    section, groups = teacher_section(teacher_exp, load_checkpoint(teacher_checkpoint))
    args.task = args.task or teacher_exp.task
    args.config = args.config or preset_path(f"{args.task}-distill") or preset_path("distill")
    data = _experiment_dict(args)
    runner_cfg = data["runner"]
    runner_cfg["class_name"] = "DistillationRunner"
    runner_cfg["teacher"] = section
    obs_groups = runner_cfg.get("obs_groups") or {}
    if not isinstance(obs_groups, dict):
        raise StrideError(f"runner.obs_groups must be a mapping, got {obs_groups!r}.")
    runner_cfg["obs_groups"] = {**obs_groups, "teacher": groups}
    with _naming_source(args):
        exp = build(ExperimentCfg, data)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    experiment = exp.runner.get("experiment_name") or f"{exp.task}-distill"
    run_name = exp.runner.get("run_name") or ""
    run_dir = args.run_dir or os.path.join("runs", str(experiment), f"{stamp}_{run_name}" if run_name else stamp)
    run_dir = broadcast_object(run_dir)  # every rank uses rank 0's clock
    threads = choose_threads(exp.task, args.device, args.threads)
    _announce(exp, args, run_dir, threads)
    env = _build_env(exp, args.device, rank=dist.rank)
    # the runner validates the whole config before anything is written to disk
    with _naming_source(args):
        runner = DistillationRunner(env, exp.runner, log_dir=run_dir, device=args.device)
    runner.load(teacher_checkpoint)
    if dist.is_main:
        os.makedirs(run_dir, exist_ok=True)
        dump_yaml(exp, os.path.join(run_dir, "experiment.yaml"))
    iterations = _iterations_to_run(runner, None)
    runner.learn(iterations, init_at_random_ep_len=exp.init_at_random_ep_len)
    student = exp.runner["student"].get("class_name", "MLPModel")
    headline = f"distilled {teacher_checkpoint} into a {student} student on {exp.task} for {iterations} iterations"
    return _report(runner, exp, run_dir, headline, args.device)


def _resume(args: argparse.Namespace) -> int:
    """``stride distill --resume RUN_DIR``: continue a distillation run exactly.

    Loads the run's latest checkpoint (student, teacher, optimizer, iteration, RNG and task state) and continues to
    its planned ``max_iterations``, or ``--iterations`` more.
    """
    from stride.cli.main import _build_env, _iterations_to_run, _latest_checkpoint, _nothing_to_do
    from stride.cli.runtime import choose_threads, load_run, refuse_resume_options
    from stride.runners import DistillationRunner
    from stride.utils.distributed import distributed_info

    refuse_resume_options(args, "distill")
    run_dir = args.resume
    exp = load_run(run_dir)
    checkpoint = _latest_checkpoint(run_dir)
    threads = choose_threads(exp.task, args.device, args.threads)
    env = _build_env(exp, args.device, rank=distributed_info().rank)
    runner = DistillationRunner(env, exp.runner, log_dir=run_dir, device=args.device)
    runner.load(checkpoint)
    iterations = _iterations_to_run(runner, args.iterations)
    if iterations == 0:
        return _nothing_to_do(run_dir, runner, sys.stdout)
    _announce(exp, args, run_dir, threads)
    runner.learn(iterations, init_at_random_ep_len=exp.init_at_random_ep_len)
    headline = f"resumed {checkpoint} for {iterations} more iterations (now at {runner.current_learning_iteration})"
    return _report(runner, exp, run_dir, headline, args.device)


def _announce(exp: Any, args: argparse.Namespace, run_dir: str, threads: tuple[int, str]) -> None:
    """The run's first line: task, device, CPU threads and why, run directory (rank 0 only under torchrun)."""
    from stride.utils.distributed import distributed_info

    if not distributed_info().is_main:
        return
    count, reason = threads
    sys.stdout.write(
        f"stride distill: {exp.task} on {args.device}, {count} CPU thread(s) ({reason}; --threads N to change), "
        f"run {run_dir}\n"
    )
    sys.stdout.flush()


def _report(runner: Any, exp: Any, run_dir: str, headline: str, device: str) -> int:
    """Evaluate student and teacher and print where the run's files are (rank 0 only); returns exit code 0."""
    from stride.cli.runtime import command_line
    from stride.utils.distributed import distributed_info

    if not distributed_info().is_main:
        return 0
    student_return, teacher_return = evaluate_student_and_teacher(runner, exp, device)
    out = sys.stdout
    out.write(f"\n{headline} ({runner.total_env_steps:,} env steps)\n")
    out.write(
        f"deterministic evaluation over 64 episodes: student {student_return:.1f}, teacher {teacher_return:.1f}\n"
    )
    out.write(f"checkpoint: {runner.checkpoint_path(runner.current_learning_iteration)}\n")
    out.write(f"metrics:    {os.path.join(run_dir, 'metrics.jsonl')}\n")
    out.write(f"play:       {command_line('stride', 'play', run_dir)}\n")
    return 0


def evaluate_student_and_teacher(runner: Any, exp: Any, device: str, num_episodes: int = 64) -> tuple[float, float]:
    """Mean deterministic returns of the student and of the teacher on the same fresh evaluation episodes.

    Args:
        runner: A ``DistillationRunner``.
        exp: Its ``ExperimentCfg`` (for the task, env settings and seed).
        device: Torch device.
        num_episodes: Complete episodes per policy.

    Returns:
        ``(student return, teacher return)``.
    """
    from stride.cli.main import _build_env
    from stride.runners.evaluate import evaluate_policy

    seed = 10_000 + int(exp.runner.get("seed") or 1)
    num_envs = min(64, int(exp.env.get("num_envs", 64)))
    results = []
    student = runner.get_inference_policy()
    for policy in (student, runner.alg.teacher):
        # evaluate_policy resets a recurrent policy before the first step and on every done
        env = _build_env(exp, device, num_envs=num_envs, seed=seed)
        results.append(evaluate_policy(env, policy, num_episodes=num_episodes).mean_return)
    return results[0], results[1]
