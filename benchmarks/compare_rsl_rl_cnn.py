"""stride against rsl_rl with CNN policies, side by side in one process: time per PPO iteration on reach-image.

Both libraries get the same pixel task (``make_task("reach-image")``: a 1×32×32 image per env), the same rsl_rl-v5
``train_cfg`` with ``CNNModel`` actor and critic, and the same seed; both are driven by the harness loop of
``compare_rsl_rl.py`` through their runner's ``.alg`` (runner, logging and checkpoint overheads excluded)::

    per iteration:
        with inference_mode: T x (alg.act, env.step, alg.process_env_step); alg.compute_returns(obs)   # collect
        alg.update()                                                                                   # learn

After discarded warm-up iterations the libraries alternate in blocks (``--block`` iterations each, ``--rounds``
rounds, order swapped every round); the report gives median and min per library and the ratio stride / rsl_rl
(<= 1.0: stride is faster), for wall-clock time and for the process's CPU time (the steadier figure on a CPU
machine shared with other work).

Usage (from the repository root)::

    python benchmarks/compare_rsl_rl_cnn.py --num-envs 256 --steps 24 --device cpu --rounds 5 --block 2 \\
        --json bench_cnn.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import torch

try:  # run as a script from benchmarks/ (its folder is on sys.path) ...
    import compare_rsl_rl as harness
    from _common import hardware_info, markdown_table, package_version, summarize
except ImportError:  # ... or as ``python -m benchmarks.compare_rsl_rl_cnn`` from the repository root
    import benchmarks.compare_rsl_rl as harness
    from benchmarks._common import hardware_info, markdown_table, package_version, summarize

__all__ = ["TASK", "main", "make_train_cfg", "measure_speed", "parse_args", "render_markdown"]

TASK = "reach-image"
"""The built-in pixel task both libraries train on."""


def make_train_cfg(
    steps: int,
    channels: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    hidden: Sequence[int],
    seed: int,
    share_cnn_encoders: bool = False,
) -> dict[str, Any]:
    """The rsl_rl v5 train_cfg of both runners: the reach-image preset's PPO and CNN settings, all spelled out.

    Args:
        steps: Rollout length per env and iteration.
        channels: Output channels of each convolution.
        kernel_size: Kernel size of each convolution.
        stride: Stride of each convolution.
        hidden: MLP head widths of actor and critic.
        seed: Run seed.
        share_cnn_encoders: Whether the critic reuses the actor's encoders.

    Returns:
        A fresh dict (rsl_rl writes into the dict it is given).
    """
    cnn_cfg = {
        "output_channels": list(channels),
        "kernel_size": list(kernel_size),
        "stride": list(stride),
        "padding": "zeros",
        "norm": "none",
        "activation": "elu",
        "max_pool": False,
        "global_pool": "none",
        "flatten": True,
    }
    # the MLP comparison's config (every PPO value spelled out), with CNN models for actor and critic
    cfg = harness.make_train_cfg(steps, hidden, seed)
    cfg["algorithm"]["share_cnn_encoders"] = share_cnn_encoders
    for section in ("actor", "critic"):
        cfg[section].update(class_name="CNNModel", cnn_cfg=dict(cnn_cfg))
    return cfg


def _train_cfg(args: argparse.Namespace) -> dict[str, Any]:
    return make_train_cfg(args.steps, args.channels, args.kernel, args.stride, args.hidden, args.seed, args.share)


def measure_speed(args: argparse.Namespace) -> dict[str, Any]:
    """Time collect and learn per iteration, the libraries alternating in blocks within this process.

    Args:
        args: Parsed command line.

    Returns:
        Per library the raw samples and their summaries (seconds), env steps/s at the median, the ratios
        stride / rsl_rl of medians and of minima, and the block schedule that was run.
    """
    train_cfg = _train_cfg(args)
    contenders = {
        lib: harness._build(lib, TASK, args.num_envs, args.seed, args.device, train_cfg) for lib in harness.LIBRARIES
    }
    for c in contenders.values():
        for _ in range(args.warmup):
            harness._iteration(c)
    samples: dict[str, dict[str, list[float]]] = {
        lib: {"collect": [], "learn": [], "total": [], "process_cpu": []} for lib in harness.LIBRARIES
    }
    schedule: list[str] = []
    for r in range(args.rounds):
        order = harness.LIBRARIES if r % 2 == 0 else harness.LIBRARIES[::-1]
        for lib in order:
            schedule.append(lib)
            for _ in range(args.block):
                cpu_start = time.process_time()
                collect, learn = harness._iteration(contenders[lib])
                # this process's CPU seconds: less sensitive than wall time to other load on a shared CPU machine
                samples[lib]["process_cpu"].append(time.process_time() - cpu_start)
                samples[lib]["collect"].append(collect)
                samples[lib]["learn"].append(learn)
                samples[lib]["total"].append(collect + learn)
    result: dict[str, Any] = {"schedule": schedule}
    for lib in harness.LIBRARIES:
        summaries = {part: summarize(values) for part, values in samples[lib].items()}
        result[lib] = {
            **summaries,
            "samples": samples[lib],
            "steps_per_s": args.num_envs * args.steps / summaries["total"]["median"],
        }
    result["ratio"] = {
        f"{part}_{stat}": result["stride"][part][stat] / result["rsl_rl"][part][stat]
        for part in ("collect", "learn", "total", "process_cpu")
        for stat in ("median", "min")
    }
    return result


def render_markdown(result: dict[str, Any]) -> str:
    """The human-readable report: setup, hardware and the speed table.

    Args:
        result: What :func:`main` returns.

    Returns:
        Markdown text.
    """
    cfg, hw, ver, speed = result["config"], result["hardware"], result["versions"], result["speed"]
    lines = [
        f"## stride vs rsl_rl, CNN policies: {TASK}, {cfg['num_envs']} envs x {cfg['steps']} steps, CNN "
        f"{cfg['channels']} (kernels {cfg['kernel']}, strides {cfg['stride']}) + MLP {cfg['hidden']}"
        f"{', shared encoders' if cfg['share'] else ''}, {cfg['device']}",
        "",
        f"Hardware: {hw['cpu_model']} ({hw['cpu_count']} logical CPUs), torch threads {hw['torch_num_threads']}"
        + (f", GPU {hw['gpu_name']}" if "gpu_name" in hw else "")
        + f". Versions: torch {ver['torch']}, stride {ver['stride']}, rsl-rl-lib {ver['rsl_rl']}.",
        "",
        f"### Speed (ms per iteration; {cfg['rounds']} rounds x {cfg['block']} iterations per library, alternating; "
        f"{cfg['warmup']} warm-up iterations discarded)",
        "",
    ]
    parts = ("collect", "learn", "total", "process_cpu")
    header = ["library"] + [f"{part} {stat}" for part in parts for stat in ("median", "min")]
    rows: list[Sequence[object]] = []
    for lib in harness.LIBRARIES:
        s = speed[lib]
        rows.append(
            [lib]
            + [f"{1e3 * s[part][stat]:.1f}" for part in parts for stat in ("median", "min")]
            + [f"{s['steps_per_s']:,.0f}"]
        )
    ratio = speed["ratio"]
    rows.append(
        ["**ratio stride/rsl_rl**"]
        + [f"**{ratio[f'{part}_{stat}']:.3f}**" for part in parts for stat in ("median", "min")]
        + ["–"]
    )
    lines.append(markdown_table([*header, "env steps/s (median)"], rows))
    lines += [
        "",
        "Ratio <= 1.0 means stride is faster. collect / learn / total: wall clock; process_cpu: this process's CPU "
        "time per iteration (host side only on a GPU).",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments without the program name; None reads ``sys.argv``.

    Returns:
        The options.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=24, help="num_steps_per_env")
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32], help="output channels per conv layer")
    parser.add_argument("--kernel", type=int, nargs="+", default=[5, 3], help="kernel size per conv layer")
    parser.add_argument("--stride", type=int, nargs="+", default=[2, 2], help="stride per conv layer")
    parser.add_argument("--hidden", type=int, nargs="+", default=[64], help="MLP head hidden sizes")
    parser.add_argument("--share", action="store_true", help="algorithm.share_cnn_encoders")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave as is)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of one block per library")
    parser.add_argument("--block", type=int, default=2, help="iterations per library per round")
    parser.add_argument("--warmup", type=int, default=1, help="discarded iterations per library")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the full result here")
    args = parser.parse_args(argv)
    for name in ("num_envs", "steps", "rounds", "block"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if not len(args.channels) == len(args.kernel) == len(args.stride):
        parser.error("--channels, --kernel and --stride need one value per conv layer each")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the comparison, print the markdown report and optionally write the JSON result.

    Args:
        argv: Command-line arguments without the program name; None reads ``sys.argv``.

    Returns:
        ``{"config", "hardware", "versions", "speed"}``.

    Raises:
        ImportError: If rsl_rl is not installed.
    """
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    harness._runner_class("rsl_rl")  # fail before any work when rsl_rl is missing
    import stride

    result: dict[str, Any] = {
        "config": {
            "task": TASK,
            "num_envs": args.num_envs,
            "steps": args.steps,
            "channels": list(args.channels),
            "kernel": list(args.kernel),
            "stride": list(args.stride),
            "hidden": list(args.hidden),
            "share": args.share,
            "device": args.device,
            "rounds": args.rounds,
            "block": args.block,
            "warmup": args.warmup,
            "seed": args.seed,
            "train_cfg": _train_cfg(args),
        },
        "hardware": hardware_info(args.device),
        "versions": {
            "torch": torch.__version__,
            "stride": package_version("stride-rl") or getattr(stride, "__version__", "unknown"),
            "rsl_rl": package_version("rsl-rl-lib") or "unknown",
        },
    }
    result["speed"] = measure_speed(args)
    print(render_markdown(result))
    if args.json is not None:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(harness._finite_or_none(result), handle, indent=2, allow_nan=False)
            handle.write("\n")
    return result


if __name__ == "__main__":
    try:
        main()
    except ImportError as error:
        raise SystemExit(str(error)) from None
