"""Weak scaling under torchrun: 1 process vs K processes with the same envs per process (cartpole, gloo or NCCL).

Each configuration is one ``stride train`` launched by ``torchrun --nproc-per-node=K`` into a temporary run
directory; rank 0's ``metrics.jsonl`` gives every iteration's collection and learning time. The first
``--warmup`` iterations are dropped; the medians over the rest are reported, with steps/s counting every
process's steps (``Perf/total_steps`` / time). Configurations alternate for ``--rounds`` rounds so that drifting
machine load falls on all of them alike.

python benchmarks/distributed_scaling.py --procs 1 2 --num-envs 1024 --iterations 12 --rounds 3
python benchmarks/distributed_scaling.py --procs 1 2 4 8 --device cuda --num-envs 4096   # one GPU per process
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import hardware_info, markdown_table

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_once(procs: int, args: argparse.Namespace) -> dict[str, float]:
    """Train once on ``procs`` processes; median iteration time, collection, learning, steps/s (after warm-up)."""
    with tempfile.TemporaryDirectory() as run_dir:
        hidden = "[" + ", ".join(str(h) for h in args.hidden) + "]"
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc-per-node={procs}",
            "--master-addr=127.0.0.1",
            f"--master-port={_free_port()}",
            "-m",
            "stride.cli.main",
            "train",
            "--task",
            "cartpole",
            "--device",
            args.device,
            "--num-envs",
            str(args.num_envs),
            "--iterations",
            str(args.iterations),
            "--run-dir",
            run_dir,
            "--set",
            f"actor.hidden_dims={hidden}",
            "--set",
            f"critic.hidden_dims={hidden}",
            "--set",
            f"save_interval={args.iterations}",
        ]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": REPO_ROOT}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{procs} process(es) failed:\n{done.stderr[-3000:]}")
        with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle][args.warmup :]
    collect = [r["Perf/collection_time"] for r in records]
    learn = [r["Perf/learning_time"] for r in records]
    steps = records[-1]["Perf/total_steps"] - records[0]["Perf/total_steps"]
    # steps of the timed iterations (the first timed record's own steps included) over their summed time
    per_iteration = steps / max(len(records) - 1, 1)
    total = [c + ln for c, ln in zip(collect, learn, strict=True)]
    return {
        "iteration": statistics.median(total),
        "collect": statistics.median(collect),
        "learn": statistics.median(learn),
        "fps": per_iteration / statistics.median(total),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--num-envs", type=int, default=1024, help="envs per process")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="OMP threads per process")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    results: dict[int, list[dict[str, float]]] = {p: [] for p in args.procs}
    for round_index in range(args.rounds):
        order = args.procs[round_index % len(args.procs) :] + args.procs[: round_index % len(args.procs)]
        for procs in order:
            results[procs].append(run_once(procs, args))
            print(f"round {round_index} procs {procs}: {results[procs][-1]}", flush=True)
    base = statistics.median(r["fps"] for r in results[args.procs[0]])
    rows = []
    for procs in args.procs:
        runs = results[procs]
        fps = statistics.median(r["fps"] for r in runs)
        rows.append(
            [
                procs,
                args.num_envs * procs,
                f"{statistics.median(r['iteration'] for r in runs):.3f}",
                f"{statistics.median(r['collect'] for r in runs):.3f}",
                f"{statistics.median(r['learn'] for r in runs):.3f}",
                f"{fps:,.0f}",
                f"{fps / base:.2f}",
                f"{fps / base / (procs / args.procs[0]):.2f}",
            ]
        )
    header = ["processes", "envs (total)", "s / iteration", "collect s", "learn s", "steps/s", "speed-up", "efficiency"]
    print(json.dumps(hardware_info(args.device)))
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
