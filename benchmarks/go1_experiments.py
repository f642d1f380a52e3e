"""The RSL-RL paper's first three experiments on the Go1 joystick task (envpool's port of MuJoCo Playground's).

- **baseline**: PPO with the task preset (``stride/configs/go1-joystick.yaml``: actor on the noisy ``state``, critic
  on ``privileged_state``); the learning curve is the deterministic evaluation return against env steps.
- **symmetry**: the same, plus ``symmetry_cfg`` (data augmentation and mirror loss with
  ``stride.env.symmetry.go1:go1_symmetry``); compared with ``baseline`` on sample efficiency (return against env
  steps) and on two symmetry measures of the final policy:

  * *action asymmetry* ``E‖μ(M s) − M μ(s)‖₂ / E‖μ(s)‖₂`` over the states the deterministic policy visits: how far
    the policy is from acting in the mirrored way in the mirrored situation (0 for an equivariant policy);
  * *duty-cycle asymmetry* ``(|d_FR − d_FL| + |d_RR − d_RL|) / 2``, with ``d`` each foot's fraction of steps in
    contact, on straight-ahead commands (``vy = yaw rate = 0``): a symmetric gait such as a trot loads the left
    and right feet equally; a limp or a favoured side shows up here whatever the policy's internals.

- **teacher** / **students**: a PPO teacher whose actor reads ``privileged_state`` (noise-free velocities, contacts,
  forces) is distilled (DAgger: the student acts, the teacher labels) into students that read only the noisy
  ``state``, an MLP and a GRU; the figure is each student's return over the teacher's on the same evaluation
  episodes.

``run`` trains one experiment and writes ``<out>/<experiment>_seed<seed>.json`` (and the teacher's checkpoint);
``report`` draws ``docs/img/go1_*.png`` and prints the markdown tables. Small CPU scale, one process at a time:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/go1_experiments.py run --experiment baseline --seed 1 --out /tmp/go1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/go1_experiments.py run --experiment symmetry --seed 1 --out /tmp/go1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/go1_experiments.py run --experiment teacher --seed 1 --out /tmp/go1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/go1_experiments.py run --experiment students --seed 1 --out /tmp/go1
    .venv/bin/python benchmarks/go1_experiments.py report --out /tmp/go1

Full scale on a GPU machine (Playground's budget: 8,192 envs, 200M steps; envpool steps the envs on the machine's
CPU cores, the update runs on the GPU), per experiment and seed:
add ``--device cuda --num-envs 4096 --env-threads 0 --iterations 2000 --chunks 10 --distill-iterations 500
--eval-envs 64`` (4096 × 20 × 2000 = 164M steps; ``--init-std`` stays 0.2, see ``_ppo_cfg``).
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from tensordict import TensorDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt_mean_std, hardware_info, markdown_table

from stride.config.io import load_yaml, preset_path
from stride.env.symmetry.go1 import go1_symmetry
from stride.env.tasks import make_task
from stride.runners import DistillationRunner, OnPolicyRunner

TASK = "envpool:Go1JoystickFlatTerrain-v1"
"""stride task name of the envpool adapter."""

EXPERIMENTS = ("baseline", "symmetry", "teacher", "students", "stand")
"""``stand`` evaluates the zero action (PD targets at the home pose): the reference a policy must beat."""

SYMMETRY_CFG: dict[str, Any] = {
    "use_data_augmentation": True,
    "use_mirror_loss": True,
    "mirror_loss_coeff": 1.0,
    "data_augmentation_func": "stride.env.symmetry.go1:go1_symmetry",
}
"""The symmetry condition: augmentation and mirror loss, the Go1 mirror."""

STUDENTS: dict[str, dict[str, Any]] = {
    "mlp": {
        "class_name": "MLPModel",
        "hidden_dims": [512, 256, 128],
        "activation": "elu",
        "obs_normalization": True,
        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.1},
    },
    "gru": {
        "class_name": "RNNModel",
        "rnn_type": "gru",
        "rnn_hidden_dim": 256,
        "rnn_num_layers": 1,
        "hidden_dims": [256, 128],
        "activation": "elu",
        "obs_normalization": True,
        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.1},
    },
}
"""Student models (both read only the noisy ``state`` group)."""

DISTILLATION: dict[str, Any] = {
    "class_name": "Distillation",
    "learning_rate": 1.0e-3,
    "num_learning_epochs": 2,
    "gradient_length": 20,
    "max_grad_norm": 1.0,
    "loss_type": "mse",
}
"""DAgger settings of both students (``gradient_length`` = the rollout length: one BPTT window per rollout)."""

_CONTACTS = slice(99, 103)
"""Foot contacts (FR, FL, RR, RL) in ``privileged_state``."""


# ------------------------------------------------------------------------------------------------ env & cfg
ENV_THREADS = [1]
"""envpool worker threads (``--env-threads``; 1 on the shared CPU, 0 = envpool's choice on a big machine)."""


def _env(num_envs: int, seed: int, device: str, straight: bool = False) -> Any:
    """The Go1 task; ``straight`` restricts the commands to ``vx`` (``vy`` = yaw rate = 0)."""
    kwargs: dict[str, Any] = {"num_threads": ENV_THREADS[0]}
    if straight:
        kwargs["env_kwargs"] = {"command_a1": 0.0, "command_a2": 0.0}
    return make_task(TASK, num_envs=num_envs, seed=seed, device=device, **kwargs)


def _close(env: Any) -> None:
    close = getattr(env, "close", None)
    if callable(close):
        close()


def _preset() -> dict[str, Any]:
    path = preset_path("go1-joystick")
    if path is None:
        raise FileNotFoundError("stride/configs/go1-joystick.yaml is missing (it comes with the envpool adapter)")
    return dict(load_yaml(path))


def _ppo_cfg(preset: dict[str, Any], seed: int, experiment: str, init_std: float | None) -> dict[str, Any]:
    cfg = copy.deepcopy(preset["runner"])
    cfg["seed"] = seed
    if init_std is not None:
        # the task clips each step's reward at 0: exploring at the preset's std 1.0 earns 0 on every step (measured:
        # 0 % positive steps at std 1.0, 2 % at 0.5, 47 % at 0.2), so a small run gets no learning signal
        cfg["actor"]["distribution_cfg"]["init_std"] = init_std
    if experiment == "symmetry":
        cfg["algorithm"]["symmetry_cfg"] = dict(SYMMETRY_CFG)
    if experiment == "teacher":
        # the teacher's actor reads the privileged state (it holds the noisy state too, and the clean signals)
        cfg["obs_groups"] = {"actor": ["privileged_state"], "critic": ["privileged_state"]}
    return cfg


# ----------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(
    policy: Callable[[TensorDict], torch.Tensor], num_envs: int, seed: int, device: str, straight: bool = False
) -> dict[str, Any]:
    """One complete episode per env with the deterministic policy: returns, lengths, foot duty cycles, states.

    Args:
        policy: Observations → actions (a recurrent policy is reset first and on every done).
        num_envs: Episodes (one per env, all started together).
        seed: Seed of the evaluation envs (no training env uses it).
        device: Torch device.
        straight: Straight-ahead commands only (for the gait measure).

    Returns:
        ``return`` and ``length`` (means), ``returns`` (per episode), ``duty`` (per foot), ``states`` (the visited
        ``state`` rows, every 10th step).
    """
    env = _env(num_envs, seed, device, straight=straight)
    recurrent = bool(getattr(policy, "is_recurrent", False))
    saved = None
    if recurrent:
        # the training rollout's memory is put back afterwards: evaluation must not disturb training
        saved = _clone_state(policy.get_hidden_state())  # type: ignore[attr-defined]
        policy.reset()  # type: ignore[attr-defined]
    obs = env.get_observations()
    active = torch.ones(num_envs, dtype=torch.bool, device=device)
    returns = torch.zeros(num_envs, device=device)
    lengths = torch.zeros(num_envs, device=device)
    contact_steps = torch.zeros(4, device=device)
    active_steps = torch.zeros((), device=device)
    visited: list[torch.Tensor] = []
    horizon = int(torch.as_tensor(env.max_episode_length).max())
    for step in range(horizon):
        if step % 10 == 0:
            visited.append(obs["state"][active].clone())
        obs, rewards, dones, _ = env.step(policy(obs))
        if recurrent:
            policy.reset(dones)  # type: ignore[attr-defined]
        dones = dones.to(torch.bool)
        live = active & ~dones  # the contact rows of a done env already belong to its next episode
        contact_steps += (obs["privileged_state"][:, _CONTACTS] * live[:, None]).sum(0)
        active_steps += live.sum()
        returns += rewards * active
        lengths += active.float()
        active &= ~dones
        if not bool(active.any()):
            break
    _close(env)
    if recurrent:
        policy.reset(hidden_state=saved)  # type: ignore[attr-defined]
    duty = (contact_steps / active_steps.clamp(min=1)).tolist()
    return {
        "return": float(returns.mean()),
        "length": float(lengths.mean()),
        "returns": returns.tolist(),
        "duty": duty,
        "states": torch.cat(visited),
    }


def _clone_state(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.clone()
    return tuple(part.clone() for part in state)


@torch.no_grad()
def action_asymmetry(policy: Callable[[TensorDict], torch.Tensor], states: torch.Tensor) -> float:
    """``E‖μ(M s) − M μ(s)‖₂ / E‖μ(s)‖₂`` over ``states`` (rows of the ``state`` group)."""
    batch = states.shape[0]
    obs, _ = go1_symmetry(obs=TensorDict({"state": states}, batch_size=[batch]))
    if obs is None:
        raise RuntimeError("go1_symmetry returned no observations")
    actions = policy(obs)
    _, mirrored = go1_symmetry(actions=actions[:batch])
    if mirrored is None:
        raise RuntimeError("go1_symmetry returned no actions")
    gap = (actions[batch:] - mirrored[batch:]).norm(dim=-1).mean()
    return float(gap / actions[:batch].norm(dim=-1).mean().clamp(min=1e-12))


def duty_asymmetry(duty: list[float]) -> float:
    """``(|d_FR − d_FL| + |d_RR − d_RL|) / 2`` from per-foot duty cycles ordered FR, FL, RR, RL."""
    return (abs(duty[0] - duty[1]) + abs(duty[2] - duty[3])) / 2


# ---------------------------------------------------------------------------------------------------- runs
def run_ppo(experiment: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train ``baseline``, ``symmetry`` or ``teacher`` in chunks, evaluating after each chunk."""
    preset = _preset()
    cfg = _ppo_cfg(preset, seed, experiment, args.init_std)
    num_envs = args.num_envs or int(preset["env"]["num_envs"])
    env = _env(num_envs, seed, args.device)
    log_dir = os.path.join(args.out, "logs", f"{experiment}_seed{seed}")
    runner = OnPolicyRunner(env, cfg, log_dir=log_dir, device=args.device)
    eval_envs = args.eval_envs
    actor_group = cfg["obs_groups"]["actor"][0]
    curve: list[dict[str, Any]] = []
    train_seconds = 0.0
    chunk = max(1, args.iterations // args.chunks)
    for index in range(args.chunks):
        start = time.perf_counter()
        runner.learn(chunk, init_at_random_ep_len=index == 0)
        train_seconds += time.perf_counter() - start
        policy = runner.get_inference_policy(args.device)
        result = evaluate(policy, eval_envs, 10_000 + 100 * seed, args.device)
        point = {
            "iterations": runner.current_learning_iteration,
            "env_steps": runner.total_env_steps,
            "return": result["return"],
            "length": result["length"],
            "train_seconds": train_seconds,
        }
        if actor_group == "state":
            point["action_asymmetry"] = action_asymmetry(policy, result["states"])
        curve.append(point)
        print(json.dumps({"experiment": experiment, "seed": seed, **point}), flush=True)
    final = dict(curve[-1])
    if actor_group == "state":
        gait = evaluate(runner.get_inference_policy(args.device), eval_envs, 20_000 + seed, args.device, straight=True)
        final["duty"] = gait["duty"]
        final["duty_asymmetry"] = duty_asymmetry(gait["duty"])
        final["straight_return"] = gait["return"]
        final["straight_action_asymmetry"] = action_asymmetry(runner.get_inference_policy(args.device), gait["states"])
    if experiment == "teacher":
        runner.save(os.path.join(args.out, f"teacher_seed{seed}.pt"))
    _close(env)
    record = {
        "experiment": experiment,
        "seed": seed,
        "num_envs": num_envs,
        "num_steps_per_env": cfg["num_steps_per_env"],
        "init_std": cfg["actor"]["distribution_cfg"]["init_std"],
        "curve": curve,
        "train_curve": _train_curve(log_dir, num_envs * int(cfg["num_steps_per_env"])),
        "final": final,
        "train_seconds": train_seconds,
        "hardware": hardware_info(args.device),
        "torch_threads": torch.get_num_threads(),
    }
    _write(args.out, f"{experiment}_seed{seed}", record)
    return record


def run_students(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Distill the teacher of ``seed`` into the MLP and the GRU student; evaluate both and the teacher."""
    preset = _preset()
    teacher_path = os.path.join(args.out, f"teacher_seed{seed}.pt")
    if not os.path.isfile(teacher_path):
        raise FileNotFoundError(f"{teacher_path} is missing: run --experiment teacher --seed {seed} first")
    num_envs = args.num_envs or int(preset["env"]["num_envs"])
    record: dict[str, Any] = {"experiment": "students", "seed": seed, "num_envs": num_envs, "students": {}}
    chunk = max(1, args.distill_iterations // args.chunks)
    teacher_return = None
    for name, student in STUDENTS.items():
        cfg = {
            "class_name": "DistillationRunner",
            "seed": seed,
            "num_steps_per_env": int(preset["runner"]["num_steps_per_env"]),
            "save_interval": 10**6,
            "clip_actions": 1.0,  # the labels are clipped to what the env executes
            "obs_groups": {"student": ["state"], "teacher": ["privileged_state"]},
            "algorithm": dict(DISTILLATION),
            "student": copy.deepcopy(student),
            "teacher": copy.deepcopy(preset["runner"]["actor"]),
        }
        env = _env(num_envs, seed, args.device)
        runner = DistillationRunner(env, cfg, log_dir=None, device=args.device)
        runner.load(teacher_path)
        if teacher_return is None:
            teacher_return = evaluate(runner.alg.teacher, args.eval_envs, 10_000 + 100 * seed, args.device)["return"]
        curve: list[dict[str, Any]] = []
        train_seconds = 0.0
        for index in range(args.chunks):
            start = time.perf_counter()
            runner.learn(chunk, init_at_random_ep_len=index == 0)
            train_seconds += time.perf_counter() - start
            result = evaluate(
                runner.get_inference_policy(args.device), args.eval_envs, 10_000 + 100 * seed, args.device
            )
            point = {
                "iterations": runner.current_learning_iteration,
                "env_steps": runner.total_env_steps,
                "return": result["return"],
                "ratio": result["return"] / teacher_return if teacher_return else float("nan"),
                "train_seconds": train_seconds,
            }
            curve.append(point)
            print(json.dumps({"experiment": "students", "student": name, "seed": seed, **point}), flush=True)
        _close(env)
        record["students"][name] = {"curve": curve, "final": curve[-1], "train_seconds": train_seconds}
    record["teacher_return"] = teacher_return
    record["hardware"] = hardware_info(args.device)
    record["torch_threads"] = torch.get_num_threads()
    _write(args.out, f"students_seed{seed}", record)
    return record


def _train_curve(log_dir: str, steps_per_iteration: int) -> list[list[float]]:
    """``[env steps, mean training episode return]`` per iteration that ended episodes (from metrics.jsonl)."""
    curve = []
    with open(os.path.join(log_dir, "metrics.jsonl"), encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            value = row.get("Train/mean_reward")
            if isinstance(value, (int, float)) and value == value:  # finite: iterations without episode ends are NaN
                curve.append([(int(row["iteration"]) + 1) * steps_per_iteration, float(value)])
    return curve


def run_stand(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate the zero action (stand at the home pose) on the PPO runs' evaluation episodes of ``seed``."""

    def stand(obs: TensorDict) -> torch.Tensor:
        return torch.zeros(obs.batch_size[0], 12, device=obs.device)

    result = evaluate(stand, args.eval_envs, 10_000 + 100 * seed, args.device)
    straight = evaluate(stand, args.eval_envs, 20_000 + seed, args.device, straight=True)
    record = {
        "experiment": "stand",
        "seed": seed,
        "return": result["return"],
        "length": result["length"],
        "straight_return": straight["return"],
        "duty": straight["duty"],
    }
    _write(args.out, f"stand_seed{seed}", record)
    return record


def _write(out: str, name: str, record: dict[str, Any]) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{name}.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)


# --------------------------------------------------------------------------------------------------- report
def _load(out: str, experiment: str) -> list[dict[str, Any]]:
    records = []
    for path in sorted(glob.glob(os.path.join(out, f"{experiment}_seed*.json"))):
        with open(path, encoding="utf-8") as handle:
            records.append(json.load(handle))
    return records


def _curve_plot(ax: Any, runs: list[dict[str, Any]], label: str, key: str = "return") -> None:
    """Mean curve over seeds with the min–max band (all seeds share the evaluation points)."""
    if not runs:
        return
    steps = [p["env_steps"] / 1e6 for p in runs[0]["curve"]]
    values = torch.tensor([[p[key] for p in r["curve"]] for r in runs])
    ax.plot(steps, values.mean(0).tolist(), marker="o", label=f"{label} ({len(runs)} seeds)")
    if len(runs) > 1:
        ax.fill_between(steps, values.min(0).values.tolist(), values.max(0).values.tolist(), alpha=0.2)


def _last_train_return(run: dict[str, Any], count: int = 20) -> float:
    values = [value for _, value in (run.get("train_curve") or [])[-count:]]
    return sum(values) / len(values) if values else float("nan")


def _train_plot(ax: Any, runs: list[dict[str, Any]], label: str, window: int = 10) -> None:
    """Mean over seeds of each run's training return (moving average over ``window`` logged iterations)."""
    import numpy as np

    series: dict[int, list[float]] = {}
    for run in runs:
        curve = np.array(run.get("train_curve") or [], dtype=np.float64).reshape(-1, 2)
        if len(curve) < window:
            continue
        smooth = np.convolve(curve[:, 1], np.ones(window) / window, mode="valid")
        for steps, value in zip(curve[window - 1 :, 0], smooth, strict=True):
            series.setdefault(int(steps), []).append(float(value))
    if not series:
        return
    steps = sorted(k for k, v in series.items() if len(v) == max(len(v) for v in series.values()))
    means = [sum(series[k]) / len(series[k]) for k in steps]
    ax.plot([k / 1e6 for k in steps], means, label=f"{label} ({len(series[steps[0]])} seeds)")


def report(out: str, img_dir: str) -> str:
    """Figures (PNG in ``img_dir``) and markdown tables from the JSON files in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(img_dir, exist_ok=True)
    baseline, symmetry = _load(out, "baseline"), _load(out, "symmetry")
    teacher, students = _load(out, "teacher"), _load(out, "students")
    stand = _load(out, "stand")
    lines: list[str] = []

    def stand_line(ax: Any) -> None:
        if stand:
            value = sum(r["return"] for r in stand) / len(stand)
            ax.axhline(value, color="gray", linestyle=":", label=f"zero action (stand): {value:.1f}")

    def return_panels(axes: Any, runs: list[tuple[Any, str]], train_title: str, eval_ylabel: str) -> None:
        """Training return (left) and deterministic return with the standing baseline (right) of each run."""
        for data, label in runs:
            _train_plot(axes[0], data, label)
            _curve_plot(axes[1], data, label)
        axes[0].set(xlabel="env steps (M)", ylabel="training episode return", title=train_title)
        stand_line(axes[1])
        axes[1].set(xlabel="env steps (M)", ylabel=eval_ylabel, title="Deterministic evaluation")
        axes[0].legend()
        axes[1].legend()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    runs = [(baseline, "PPO, actor on noisy state"), (teacher, "PPO, actor on privileged state (teacher)")]
    return_panels(axes, runs, "Go1 joystick: training return", "deterministic return (1,000 steps)")
    fig.tight_layout()
    fig.savefig(os.path.join(img_dir, "go1_baseline.png"), dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    runs = [(baseline, "symmetry off"), (symmetry, "symmetry on")]
    return_panels(axes, runs, "Sample efficiency (training)", "deterministic return")
    _curve_plot(axes[2], baseline, "symmetry off", key="action_asymmetry")
    _curve_plot(axes[2], symmetry, "symmetry on", key="action_asymmetry")
    axes[2].set(xlabel="env steps (M)", ylabel="E|μ(Ms) − Mμ(s)| / E|μ(s)|", title="Action asymmetry")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(img_dir, "go1_symmetry.png"), dpi=110)
    plt.close(fig)

    rows = []
    for name, runs in (("baseline (symmetry off)", baseline), ("symmetry on", symmetry), ("teacher", teacher)):
        if not runs:
            continue
        finals = [r["final"] for r in runs]
        gait = [f for f in finals if "duty_asymmetry" in f]
        rows.append(
            [
                name,
                len(runs),
                f"{runs[0]['final']['env_steps'] / 1e6:.2f}M",
                " / ".join(fmt_mean_std([r["curve"][i]["return"] for r in runs]) for i in range(len(runs[0]["curve"]))),
                fmt_mean_std([_last_train_return(r) for r in runs]),
                fmt_mean_std([f["length"] for f in finals], 0),
                fmt_mean_std([f["action_asymmetry"] for f in gait], 3) if gait else "—",
                fmt_mean_std([f["duty_asymmetry"] for f in gait], 3) if gait else "—",
                fmt_mean_std([r["train_seconds"] for r in runs], 0),
            ]
        )
    header = [
        "run",
        "seeds",
        "env steps",
        "deterministic return at each evaluation",
        "training return, last 20 logged iterations",
        "final deterministic episode length",
        "action asymmetry",
        "duty-cycle asymmetry",
        "train s",
    ]
    lines += ["PPO runs (mean ± std over seeds)", "", markdown_table(header, rows), ""]

    if students:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in STUDENTS:
            runs = [{"curve": s["students"][name]["curve"]} for s in students if name in s["students"]]
            _curve_plot(ax, runs, f"{name.upper()} student", key="ratio")
        ax.axhline(1.0, color="gray", linestyle="--", label="teacher")
        ax.set(xlabel="env steps (M)", ylabel="student return / teacher return", title="Teacher → student (DAgger)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(img_dir, "go1_distillation.png"), dpi=110)
        plt.close(fig)
        rows = []
        for name in STUDENTS:
            finals = [s["students"][name]["final"] for s in students if name in s["students"]]
            rows.append(
                [
                    name.upper(),
                    len(finals),
                    fmt_mean_std([s["teacher_return"] for s in students], 2),
                    fmt_mean_std([f["return"] for f in finals], 2),
                    fmt_mean_std([f["ratio"] for f in finals], 3),
                    fmt_mean_std([s["students"][name]["train_seconds"] for s in students], 0),
                ]
            )
        header = ["student", "seeds", "teacher return", "student return", "student / teacher", "train s"]
        lines += ["Distillation (students read the noisy state only)", "", markdown_table(header, rows), ""]
    if stand:
        lines += [
            f"Zero action (stand at the home pose) on the same evaluation episodes ({len(stand)} seeds): return "
            f"{fmt_mean_std([r['return'] for r in stand], 2)}, "
            f"episode length {fmt_mean_std([r['length'] for r in stand], 0)}; "
            f"straight commands {fmt_mean_std([r['straight_return'] for r in stand], 2)}, duty-cycle asymmetry "
            f"{fmt_mean_std([duty_asymmetry(r['duty']) for r in stand], 4)}.",
            "",
        ]
    record = (baseline or symmetry or teacher or students or [{}])[0]
    lines.append(f"Hardware: {record.get('hardware')}, torch threads {record.get('torch_threads')}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one experiment for one seed")
    run.add_argument("--experiment", choices=EXPERIMENTS, required=True)
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "go1_experiments"))
    run.add_argument("--device", default="cpu")
    run.add_argument("--num-envs", type=int, default=None, help="training envs (default: the preset's 128)")
    run.add_argument("--iterations", type=int, default=200, help="PPO iterations")
    run.add_argument("--distill-iterations", type=int, default=150, help="distillation iterations per student")
    run.add_argument("--chunks", type=int, default=5, help="evaluations along the run")
    run.add_argument(
        "--init-std", type=float, default=0.2, help="PPO actor's initial action std (the preset's 1.0 earns no reward)"
    )
    run.add_argument("--eval-envs", type=int, default=16, help="evaluation episodes (one per env)")
    run.add_argument("--env-threads", type=int, default=1, help="envpool worker threads (0: envpool's choice)")
    rep = sub.add_parser("report", help="figures and tables from the runs in --out")
    rep.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "go1_experiments"))
    rep.add_argument("--img-dir", default=os.path.join(os.path.dirname(__file__), "..", "docs", "img"))
    args = parser.parse_args()
    if args.command == "report":
        print(report(args.out, args.img_dir))
        return
    ENV_THREADS[0] = args.env_threads
    if args.experiment == "students":
        run_students(args.seed, args)
    elif args.experiment == "stand":
        print(json.dumps(run_stand(args.seed, args)))
    else:
        run_ppo(args.experiment, args.seed, args)


if __name__ == "__main__":
    main()
