"""stride against rsl_rl, side by side in one process: time per iteration and time to solve a built-in task.

Both libraries get the same task (``stride.env.tasks.make_task``), the same rsl_rl-v5 ``train_cfg`` dict and the
same seed, and both are driven by the one harness loop below through their runner's ``.alg``, so runner, logging
and checkpoint overheads are excluded and identical work is timed::

    obs = env.get_observations()
    per iteration:
        with inference_mode: T x (alg.act, env.step, alg.process_env_step); alg.compute_returns(obs)   # collect
        alg.update()                                                                                   # learn

1. Speed: after discarded warm-up iterations, the libraries alternate in blocks (``--block`` iterations each,
   ``--rounds`` rounds, order swapped every round); median and min per library and the ratio stride / rsl_rl
   (<= 1.0: stride is faster).
2. Time to solve: per seed (libraries alternating first), training from scratch until the mean return of the
   episodes completed in an iteration reaches the threshold; returns are recorded by an env wrapper, so both
   libraries are judged by the same metric.

Usage (from the repository root)::

    python benchmarks/compare_rsl_rl.py --task cartpole --num-envs 1024 --steps 24 --hidden 256 256 --device cpu \\
        --rounds 5 --block 3 --seeds 1 2 3 --max-iterations 150 --json bench.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from tensordict import TensorDict

try:  # run as a script from benchmarks/ (its folder is on sys.path) ...
    from _common import fmt_mean_std, hardware_info, markdown_table, package_version, summarize, sync
except ImportError:  # ... or as ``python -m benchmarks.compare_rsl_rl`` from the repository root
    from benchmarks._common import fmt_mean_std, hardware_info, markdown_table, package_version, summarize, sync

from stride.env.tasks import make_task
from stride.env.vec_env import VecEnv

__all__ = [
    "DEFAULT_THRESHOLDS",
    "LIBRARIES",
    "EpisodeReturnRecorder",
    "main",
    "make_train_cfg",
    "measure_solve",
    "measure_speed",
    "parse_args",
    "render_markdown",
]

Library = Literal["stride", "rsl_rl"]
LIBRARIES: tuple[Library, Library] = ("stride", "rsl_rl")
DEFAULT_THRESHOLDS: dict[str, float] = {"cartpole": 475.0, "pendulum": -200.0}
"""Solve thresholds on the mean return of completed episodes (CartPole-v1 / Pendulum-v1 conventions)."""

_INSTALL_HINT = "pip install 'stride-rl[bench]'"


# --------------------------------------------------------------------------------------------------- config
def make_train_cfg(
    steps: int,
    hidden: Sequence[int],
    seed: int,
    entropy_coef: float = 0.005,
    model: Literal["mlp", "gru", "lstm"] = "mlp",
    rnn_hidden_dim: int = 256,
) -> dict[str, Any]:
    """The rsl_rl v5 train_cfg both runners are built from (every PPO value spelled out, so defaults cannot differ).

    Args:
        steps: Rollout length per env and iteration (``num_steps_per_env``).
        hidden: Hidden layer sizes of actor and critic (the MLP head of a recurrent model).
        seed: Run seed (stride seeds python/numpy/torch from it; the harness seeds before each build anyway).
        entropy_coef: Entropy bonus coefficient.
        model: ``"mlp"`` (MLPModel) or a recurrent cell (RNNModel for actor and critic).
        rnn_hidden_dim: Hidden state size of a recurrent model.

    Returns:
        A fresh dict (callers may hand it to rsl_rl, which writes into it).
    """
    model_keys: dict[str, Any] = {"class_name": "MLPModel"}
    if model != "mlp":
        model_keys = {
            "class_name": "RNNModel",
            "rnn_type": model,
            "rnn_hidden_dim": rnn_hidden_dim,
            "rnn_num_layers": 1,
        }
    return {
        "seed": seed,
        "num_steps_per_env": steps,
        "save_interval": 50,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {
            "class_name": "PPO",
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "num_learning_epochs": 5,
            "num_mini_batches": 4,
            "schedule": "adaptive",
            "desired_kl": 0.01,
            "clip_param": 0.2,
            "value_loss_coef": 1.0,
            "use_clipped_value_loss": True,
            "entropy_coef": entropy_coef,
            "gamma": 0.99,
            "lam": 0.95,
            "max_grad_norm": 1.0,
            "normalize_advantage_per_mini_batch": False,
        },
        "actor": {
            **model_keys,
            "hidden_dims": list(hidden),
            "activation": "elu",
            "obs_normalization": False,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {
            **model_keys,
            "hidden_dims": list(hidden),
            "activation": "elu",
            "obs_normalization": False,
        },
    }


# ---------------------------------------------------------------------------------------------- env wrapper
class EpisodeReturnRecorder(VecEnv):
    """Pass-through VecEnv that records the returns of completed episodes, independently of the library.

    Returns are summed on the env's device; :meth:`pop_mean` reads them once per iteration.

    Args:
        env: The wrapped env.
    """

    def __init__(self, env: VecEnv) -> None:
        self.env = env
        self.num_envs = env.num_envs
        self.num_actions = env.num_actions
        self.max_episode_length = env.max_episode_length
        self.device = env.device
        self.cfg = env.cfg
        self._returns = torch.zeros(env.num_envs, device=env.device)
        self._ended = torch.zeros(2, device=env.device)  # (sum of completed returns, number completed)

    @property
    def episode_length_buf(self) -> torch.Tensor:  # type: ignore[override]
        """The wrapped env's episode step counters. Shape: (num_envs,)."""
        return self.env.episode_length_buf

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self.env.episode_length_buf = value

    def get_observations(self) -> TensorDict:
        """The wrapped env's current observations."""
        return self.env.get_observations()

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Step the wrapped env and add the returns of the episodes that ended.

        Args:
            actions: Shape: (num_envs, num_actions).

        Returns:
            The wrapped env's ``(obs, rewards, dones, extras)``, unchanged.
        """
        obs, rewards, dones, extras = self.env.step(actions)
        done_f = dones.to(torch.float32)
        # G ← G + r;  completed += (G·d, d);  G ← G·(1 − d)
        self._returns += rewards
        self._ended += torch.stack(((self._returns * done_f).sum(), done_f.sum()))
        self._returns *= 1.0 - done_f
        return obs, rewards, dones, extras

    def pop_mean(self) -> tuple[float, int]:
        """Mean return of the episodes completed since the last call (NaN if none), and their number."""
        total, count = self._ended.tolist()
        self._ended.zero_()
        return (total / count if count > 0 else float("nan")), int(count)


# ---------------------------------------------------------------------------------------------- contenders
@dataclass
class _Contender:
    """One library's runner, algorithm, env and current observations."""

    library: Library
    runner: Any
    alg: Any
    env: Any
    obs: TensorDict
    device: torch.device
    steps: int


def _runner_class(library: Library) -> type:
    """The OnPolicyRunner class of a library (rsl_rl imported lazily)."""
    if library == "stride":
        from stride.runners import OnPolicyRunner

        return OnPolicyRunner
    try:
        from rsl_rl.runners import OnPolicyRunner as RslRlRunner
    except ImportError as err:
        raise ImportError(f"rsl_rl is not installed; the comparison needs it: {_INSTALL_HINT}") from err
    return RslRlRunner


def _seed_all(seed: int) -> None:
    """Seed python, numpy and torch identically before each library is built."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _build(
    library: Library,
    task: str,
    num_envs: int,
    seed: int,
    device: str,
    train_cfg: dict[str, Any],
    record_returns: bool = False,
    stride_compile: str | None = None,
    mixed_precision: bool = False,
    stride_cuda_graphs: bool = False,
) -> _Contender:
    """A fresh env (same seed for both libraries) and the library's runner on it; rsl_rl's prints are silenced.

    ``stride_compile`` sets stride's ``torch_compile_mode`` (rsl_rl keeps its eager default);
    ``mixed_precision`` sets ``algorithm.use_mixed_precision`` (bfloat16 autocast) for this library;
    ``stride_cuda_graphs`` sets stride's ``algorithm.cuda_graphs`` (rsl_rl has no such option).
    """
    runner_class = _runner_class(library)
    env: VecEnv = make_task(task, num_envs=num_envs, seed=seed, device=device)
    if record_returns:
        env = EpisodeReturnRecorder(env)
    _seed_all(seed)
    cfg = copy.deepcopy(train_cfg)  # rsl_rl writes resolved obs_groups / multi_gpu into the dict it is given
    if library == "stride" and stride_compile is not None:
        cfg["torch_compile_mode"] = stride_compile
    if mixed_precision:
        cfg["algorithm"]["use_mixed_precision"] = True
    if library == "stride" and stride_cuda_graphs:
        cfg["algorithm"]["cuda_graphs"] = True
    with contextlib.redirect_stdout(io.StringIO()):
        runner = runner_class(env, cfg, None, device)
    alg = runner.alg
    alg.train_mode()
    torch_device = torch.device(device)
    obs = env.get_observations().to(torch_device)
    return _Contender(library, runner, alg, env, obs, torch_device, int(train_cfg["num_steps_per_env"]))


def _iteration(c: _Contender) -> tuple[float, float]:
    """One iteration of the shared harness loop; returns (collect seconds, learn seconds)."""
    alg, env, device = c.alg, c.env, c.device
    obs = c.obs
    sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for _ in range(c.steps):
            actions = alg.act(obs)
            obs, rewards, dones, extras = env.step(actions.to(env.device))
            obs, rewards, dones = obs.to(device), rewards.to(device), dones.to(device)
            alg.process_env_step(obs, rewards, dones, extras)
        alg.compute_returns(obs)
    sync(device)
    t1 = time.perf_counter()
    alg.update()
    sync(device)
    t2 = time.perf_counter()
    c.obs = obs
    return t1 - t0, t2 - t1


def _mixed_precision(args: argparse.Namespace, library: Library) -> bool:
    """Whether ``library`` runs with ``use_mixed_precision`` (``--stride-mixed-precision`` / ``--rsl-rl-...``)."""
    return bool(getattr(args, f"{library}_mixed_precision", False))


# --------------------------------------------------------------------------------------------------- speed
def measure_speed(args: argparse.Namespace, train_cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time collect and learn per iteration, the libraries alternating in blocks within this process.

    Args:
        args: Parsed command line (task, num_envs, steps, hidden, device, rounds, block, warmup, seeds).
        train_cfg: The train_cfg both runners get; None builds :func:`make_train_cfg` from ``args``.

    Returns:
        Per library the raw samples and their summaries (seconds), env steps/s at the median, the ratios
        stride / rsl_rl of medians and of minima, and the block schedule that was run.
    """
    seed = args.seeds[0]
    if train_cfg is None:
        train_cfg = make_train_cfg(args.steps, args.hidden, seed, model=args.model, rnn_hidden_dim=args.rnn_hidden)
    contenders = {
        lib: _build(
            lib,
            args.task,
            args.num_envs,
            seed,
            args.device,
            train_cfg,
            stride_compile=getattr(args, "stride_compile", None),
            mixed_precision=_mixed_precision(args, lib),
            stride_cuda_graphs=bool(getattr(args, "stride_cuda_graphs", False)),
        )
        for lib in LIBRARIES
    }
    for c in contenders.values():
        for _ in range(args.warmup):
            _iteration(c)
    samples: dict[str, dict[str, list[float]]] = {lib: {"collect": [], "learn": [], "total": []} for lib in LIBRARIES}
    schedule: list[str] = []
    for r in range(args.rounds):
        order = LIBRARIES if r % 2 == 0 else LIBRARIES[::-1]
        for lib in order:
            schedule.append(lib)
            for _ in range(args.block):
                collect, learn = _iteration(contenders[lib])
                samples[lib]["collect"].append(collect)
                samples[lib]["learn"].append(learn)
                samples[lib]["total"].append(collect + learn)
    steps_per_iteration = args.num_envs * args.steps
    result: dict[str, Any] = {"schedule": schedule, "seed": seed}
    for lib in LIBRARIES:
        summaries = {part: summarize(values) for part, values in samples[lib].items()}
        result[lib] = {
            **summaries,
            "samples": samples[lib],
            "steps_per_s": steps_per_iteration / summaries["total"]["median"],
        }
    result["ratio"] = {
        f"{part}_{stat}": result["stride"][part][stat] / result["rsl_rl"][part][stat]
        for part in ("collect", "learn", "total")
        for stat in ("median", "min")
    }
    return result


# --------------------------------------------------------------------------------------------------- solve
def _solve_run(library: Library, seed: int, threshold: float, args: argparse.Namespace) -> dict[str, Any]:
    """Train one library from scratch on one seed until the threshold or the iteration cap."""
    c = _build(
        library,
        args.task,
        args.num_envs,
        seed,
        args.device,
        make_train_cfg(args.steps, args.hidden, seed, model=args.model, rnn_hidden_dim=args.rnn_hidden),
        True,
        stride_compile=getattr(args, "stride_compile", None),
        mixed_precision=_mixed_precision(args, library),
        stride_cuda_graphs=bool(getattr(args, "stride_cuda_graphs", False)),
    )
    recorder = c.env
    if not isinstance(recorder, EpisodeReturnRecorder):
        raise TypeError("the solve run needs the EpisodeReturnRecorder wrapper")
    curve: list[float] = []
    solved_at: int | None = None
    seconds: float | None = None
    sync(c.device)
    start = time.perf_counter()
    for it in range(args.max_iterations):
        _iteration(c)
        mean_return, _ = recorder.pop_mean()
        curve.append(mean_return)
        if mean_return >= threshold:  # NaN (no episode ended) never passes
            solved_at = it + 1
            seconds = time.perf_counter() - start
            break
    elapsed = time.perf_counter() - start
    return {
        "seed": seed,
        "solved": solved_at is not None,
        "iterations": solved_at,
        "seconds": seconds,
        "iterations_run": len(curve),
        "elapsed_s": elapsed,
        "curve": curve,
    }


def _warm_process(args: argparse.Namespace) -> None:
    """One throw-away iteration per library, so neither pays the process's one-time start-up costs in a solve run."""
    cfg = make_train_cfg(args.steps, args.hidden, 0, model=args.model, rnn_hidden_dim=args.rnn_hidden)
    for lib in LIBRARIES:
        _iteration(
            _build(lib, args.task, args.num_envs, 0, args.device, cfg, mixed_precision=_mixed_precision(args, lib))
        )


def measure_solve(args: argparse.Namespace) -> dict[str, Any]:
    """Iterations and wall-clock seconds to the first iteration whose completed-episode mean return ≥ threshold.

    Args:
        args: Parsed command line (task, num_envs, steps, hidden, device, seeds, max_iterations, threshold).

    Returns:
        The threshold and, per library, one entry per seed (with the learning curve) and summaries over the seeds
        that solved.
    """
    threshold = args.threshold if args.threshold is not None else DEFAULT_THRESHOLDS[args.task]
    runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in LIBRARIES}
    for k, seed in enumerate(args.seeds):
        order = LIBRARIES if k % 2 == 0 else LIBRARIES[::-1]
        for lib in order:
            runs[lib].append(_solve_run(lib, seed, threshold, args))
    result: dict[str, Any] = {"threshold": threshold, "max_iterations": args.max_iterations}
    for lib in LIBRARIES:
        solved = [r for r in runs[lib] if r["solved"]]
        result[lib] = {
            "runs": runs[lib],
            "num_solved": len(solved),
            "num_runs": len(runs[lib]),
            "iterations": summarize([float(r["iterations"]) for r in solved]),
            "seconds": summarize([float(r["seconds"]) for r in solved]),
        }
    return result


# -------------------------------------------------------------------------------------------------- report
def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.1f}"


def _model_label(cfg: dict[str, Any]) -> str:
    """``MLP [256, 256]`` or ``GRU 128 + MLP [128]`` for the report's title."""
    model = cfg.get("model", "mlp")
    if model == "mlp":
        return f"MLP {cfg['hidden']}"
    return f"{model.upper()} {cfg.get('rnn_hidden')} + MLP {cfg['hidden']}"


def render_markdown(result: dict[str, Any]) -> str:
    """The human-readable report: setup, hardware, speed table and time-to-solve table.

    Args:
        result: What :func:`main` returns.

    Returns:
        Markdown text.
    """
    cfg, hw, ver = result["config"], result["hardware"], result["versions"]
    lines = [
        f"## stride vs rsl_rl: {cfg['task']}, {cfg['num_envs']} envs x {cfg['steps']} steps, "
        f"{_model_label(cfg)}, {cfg['device']}"
        + (f", stride torch_compile_mode={cfg['stride_compile']!r}" if cfg.get("stride_compile") else "")
        + (", stride cuda_graphs=True" if cfg.get("stride_cuda_graphs") else "")
        + "".join(f", {lib} use_mixed_precision=True" for lib in LIBRARIES if cfg.get(f"{lib}_mixed_precision")),
        "",
        f"Hardware: {hw['cpu_model']} ({hw['cpu_count']} logical CPUs), torch threads {hw['torch_num_threads']}"
        + (f", GPU {hw['gpu_name']}" if "gpu_name" in hw else "")
        + f". Versions: torch {ver['torch']}, stride {ver['stride']}, rsl-rl-lib {ver['rsl_rl']}.",
    ]
    load = result.get("load_average")
    if load is not None:
        lines.append(f"Load average (1/5/15 min) at start {load.get('start')}, at end {load.get('end')}.")
    speed = result.get("speed")
    if speed is not None:
        lines += [
            "",
            f"### Speed (ms per iteration; {cfg['rounds']} rounds x {cfg['block']} iterations per library, "
            f"alternating; {cfg['warmup']} warm-up iterations discarded)",
            "",
        ]
        header = ["library", "collect median", "collect min", "learn median", "learn min", "total median", "total min"]
        rows: list[Sequence[object]] = []
        for lib in LIBRARIES:
            s = speed[lib]
            rows.append(
                [lib]
                + [_ms(s[part][stat]) for part in ("collect", "learn", "total") for stat in ("median", "min")]
                + [f"{s['steps_per_s']:,.0f}"]
            )
        ratio = speed["ratio"]
        rows.append(
            ["**ratio stride/rsl_rl**"]
            + [
                f"**{ratio[f'{part}_{stat}']:.3f}**"
                for part in ("collect", "learn", "total")
                for stat in ("median", "min")
            ]
            + ["–"]
        )
        lines.append(markdown_table([*header, "env steps/s (median)"], rows))
        lines += ["", "Ratio <= 1.0 means stride is faster."]
    solve = result.get("solve")
    if solve is not None:
        lines += [
            "",
            f"### Time to solve (first iteration whose completed episodes average >= {solve['threshold']:g}; "
            f"cap {solve['max_iterations']} iterations; seeds {' '.join(str(s) for s in cfg['seeds'])})",
            "",
        ]
        rows = []
        for lib in LIBRARIES:
            s = solve[lib]
            per_seed = "; ".join(
                f"{r['seed']}: {r['iterations']} it / {r['seconds']:.1f} s"
                if r["solved"]
                else f"{r['seed']}: not reached ({r['iterations_run']} it)"
                for r in s["runs"]
            )
            its = [float(r["iterations"]) for r in s["runs"] if r["solved"]]
            secs = [float(r["seconds"]) for r in s["runs"] if r["solved"]]
            rows.append(
                [
                    lib,
                    f"{s['num_solved']}/{s['num_runs']}",
                    fmt_mean_std(its) if its else "not reached",
                    fmt_mean_std(secs) if secs else "not reached",
                    per_seed,
                ]
            )
        lines.append(markdown_table(["library", "solved", "iterations", "seconds", "per seed"], rows))
        lines += ["", "Mean ± std over the seeds that solved."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- CLI
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments without the program name; None reads ``sys.argv``.

    Returns:
        The options.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--task", choices=sorted(DEFAULT_THRESHOLDS), default="cartpole")
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=24, help="num_steps_per_env")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256], help="actor and critic hidden sizes")
    parser.add_argument("--model", choices=["mlp", "gru", "lstm"], default="mlp", help="actor and critic model")
    parser.add_argument("--rnn-hidden", type=int, default=256, help="recurrent models: hidden state size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave as is)")
    parser.add_argument("--rounds", type=int, default=5, help="speed: rounds of one block per library")
    parser.add_argument("--block", type=int, default=3, help="speed: iterations per library per round")
    parser.add_argument("--warmup", type=int, default=2, help="speed: discarded iterations per library")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="solve seeds (the first one: speed)")
    parser.add_argument("--max-iterations", type=int, default=150, help="solve: iteration cap per run")
    parser.add_argument("--threshold", type=float, default=None, help="solve: return threshold (default per task)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-solve", action="store_true")
    parser.add_argument("--json", default=None, help="write the full result here")
    parser.add_argument(
        "--stride-compile",
        choices=["default", "max-autotune-no-cudagraphs"],
        default=None,
        help="stride's torch_compile_mode (rsl_rl stays eager; compilation happens in the warm-up iterations)",
    )
    parser.add_argument(
        "--stride-mixed-precision",
        action="store_true",
        help="stride with algorithm.use_mixed_precision (bfloat16 autocast in the update)",
    )
    parser.add_argument(
        "--stride-cuda-graphs",
        action="store_true",
        help="stride with algorithm.cuda_graphs (captured act step and update; give --warmup >= 4 so the capture "
        "happens in the warm-up iterations)",
    )
    parser.add_argument(
        "--rsl-rl-mixed-precision",
        action="store_true",
        help="rsl_rl with algorithm.use_mixed_precision (bfloat16 autocast in the update)",
    )
    args = parser.parse_args(argv)
    for name in ("num_envs", "steps", "rounds", "block", "max_iterations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the comparison, print the markdown report and optionally write the JSON result.

    Args:
        argv: Command-line arguments without the program name; None reads ``sys.argv``.

    Returns:
        ``{"config", "hardware", "versions", "speed", "solve"}`` (``speed`` / ``solve`` are None when skipped).

    Raises:
        ImportError: If rsl_rl is not installed.
    """
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    _runner_class("rsl_rl")  # fail before any work when rsl_rl is missing
    import stride

    result: dict[str, Any] = {
        "config": {
            "task": args.task,
            "num_envs": args.num_envs,
            "steps": args.steps,
            "hidden": list(args.hidden),
            "model": args.model,
            "rnn_hidden": args.rnn_hidden,
            "device": args.device,
            "rounds": args.rounds,
            "block": args.block,
            "warmup": args.warmup,
            "seeds": list(args.seeds),
            "max_iterations": args.max_iterations,
            "stride_compile": args.stride_compile,
            "stride_mixed_precision": args.stride_mixed_precision,
            "stride_cuda_graphs": args.stride_cuda_graphs,
            "rsl_rl_mixed_precision": args.rsl_rl_mixed_precision,
            "train_cfg": make_train_cfg(
                args.steps, args.hidden, args.seeds[0], model=args.model, rnn_hidden_dim=args.rnn_hidden
            ),
        },
        "hardware": hardware_info(args.device),
        "versions": {
            "torch": torch.__version__,
            "stride": package_version("stride-rl") or getattr(stride, "__version__", "unknown"),
            "rsl_rl": package_version("rsl-rl-lib") or "unknown",
        },
        "speed": None,
        "solve": None,
    }
    result["load_average"] = {"start": _load_average()}
    if not args.skip_speed:
        result["speed"] = measure_speed(args)
    if not args.skip_solve:
        if args.skip_speed:
            _warm_process(args)
        result["solve"] = measure_solve(args)
    result["load_average"]["end"] = _load_average()
    print(render_markdown(result))
    if args.json is not None:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(_finite_or_none(result), handle, indent=2, allow_nan=False)
            handle.write("\n")
    return result


def _load_average() -> list[float] | None:
    """The machine's 1/5/15-minute load averages (None where the OS has none): other work shares the cores."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _finite_or_none(value: Any) -> Any:
    """Replace non-finite floats by None, recursively (json.dump would write bare NaN, which is not JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


if __name__ == "__main__":
    try:
        main()
    except ImportError as error:
        raise SystemExit(str(error)) from None
