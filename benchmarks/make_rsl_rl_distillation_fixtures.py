"""Make the rsl_rl distillation checkpoint fixtures under tests/data/rsl_rl/distillation/ with the real rsl_rl releases.

Not run in CI: the fixtures it writes are committed. For every fixture the matching ``rsl-rl-lib`` release is
installed into its own folder (``pip install --no-deps --target``, as make_rsl_rl_fixtures.py does) and run in its
own python process with that folder first on PYTHONPATH. Each process builds the release's own student–teacher
modules (``StudentTeacher`` / ``StudentTeacherRecurrent`` of 2.x-3.x, the two ``MLPModel`` of 4.x-5.x) with student
observations of size 5, teacher observations of size 7 and 2 actions, fills the observation normalizers from data
far from zero mean and unit variance, perturbs the weights, takes one Adam step of the release's distillation
optimizer on a behaviour loss, and writes the checkpoint in the layout the release's runner saves. It records the
student's and the teacher's deterministic actions on 100 fixed observations (a 3-step sequence for the recurrent
student).

Usage::

    .venv/bin/python benchmarks/make_rsl_rl_distillation_fixtures.py [--out tests/data/rsl_rl/distillation] \
        [--releases /tmp/stride-rsl-rl]

Files per fixture ``<name>``: ``<name>.pt`` (the checkpoint) and ``<name>_io.pt`` (``release``, ``train_cfg`` in the
release's own format, ``obs`` {"policy": (S, 100, 5), "teacher": (S, 100, 7)}, ``student_actions`` (S, 100, 2),
``teacher_actions`` (S, 100, 2), with S = 1, or 3 for the recurrent student).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

# name → (release, variant)
FIXTURES: dict[str, tuple[str, str]] = {
    "rsl_rl_2.3.3_student_teacher": ("2.3.3", "module"),
    "rsl_rl_3.3.0_student_teacher": ("3.3.0", "module"),
    "rsl_rl_3.3.0_student_teacher_recurrent": ("3.3.0", "recurrent"),
    "rsl_rl_4.0.1_distillation": ("4.0.1", "models"),
    "rsl_rl_5.5.1_distillation": ("5.5.1", "models"),
}

_CHILD = textwrap.dedent(
    """
    import sys, torch
    from tensordict import TensorDict
    release, variant, out_ckpt, out_io = sys.argv[1:5]
    torch.manual_seed(3)
    S = 3 if variant == "recurrent" else 1
    gen = torch.Generator().manual_seed(11)
    # observations far from zero mean / unit variance, so the normalizers matter
    scale_s, offset_s = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5]), torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0])
    scale_t = torch.tensor([0.5, 1.0, 2.0, 1.0, 4.0, 1.0, 0.25])
    offset_t = torch.tensor([-3.0, 1.0, 0.0, 2.0, 5.0, -1.0, 0.5])
    def draw(n):
        return TensorDict({"policy": torch.randn(n, 5, generator=gen) * scale_s + offset_s,
                           "teacher": torch.randn(n, 7, generator=gen) * scale_t + offset_t}, batch_size=[n])
    data = draw(256)
    fixed = [draw(100) for _ in range(S)]
    hidden = [32, 32]
    algorithm = {"class_name": "Distillation", "num_learning_epochs": 1, "gradient_length": 15, "learning_rate": 1e-3}
    def perturb(module):
        with torch.no_grad():
            for p in module.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    saved = {"iter": 3, "infos": None}
    if release == "2.3.3":
        from rsl_rl.modules import StudentTeacher
        from rsl_rl.modules.normalizer import EmpiricalNormalization
        policy = StudentTeacher(5, 7, 2, student_hidden_dims=hidden, teacher_hidden_dims=hidden, activation="elu",
                                init_noise_std=0.3)
        norm_s, norm_t = EmpiricalNormalization(shape=[5], until=1.0e8), EmpiricalNormalization(shape=[7], until=1.0e8)
        norm_s.train(); norm_t.train()
        norm_s(data["policy"]); norm_t(data["teacher"])
        norm_s.eval(); norm_t.eval()
        perturb(policy)
        student = lambda o: policy.act_inference(norm_s(o["policy"]))
        teacher = lambda o: policy.evaluate(norm_t(o["teacher"]))
        params = policy.parameters()
        saved.update(obs_norm_state_dict=norm_s.state_dict(), privileged_obs_norm_state_dict=norm_t.state_dict())
        train_cfg = {"num_steps_per_env": 8, "empirical_normalization": True, "algorithm": algorithm,
                     "policy": {"class_name": "StudentTeacher", "student_hidden_dims": hidden,
                                "teacher_hidden_dims": hidden, "activation": "elu", "init_noise_std": 0.3}}
    elif release == "3.3.0":
        from rsl_rl.modules import StudentTeacher, StudentTeacherRecurrent
        groups = {"policy": ["policy"], "teacher": ["teacher"]}
        kwargs = dict(student_obs_normalization=True, teacher_obs_normalization=True, student_hidden_dims=hidden,
                      teacher_hidden_dims=hidden, activation="elu", init_noise_std=0.3, noise_std_type="log")
        if variant == "recurrent":
            kwargs.update(rnn_type="gru", rnn_hidden_dim=16, rnn_num_layers=1)
            policy = StudentTeacherRecurrent(data, groups, 2, **kwargs)
        else:
            policy = StudentTeacher(data, groups, 2, **kwargs)
        policy.update_normalization(data)
        policy.teacher_obs_normalizer.update(data["teacher"])
        perturb(policy)
        policy.eval()
        student, teacher = policy.act_inference, policy.evaluate
        params = policy.parameters()
        policy_cfg = {"class_name": type(policy).__name__, **kwargs}
        train_cfg = {"num_steps_per_env": 8, "obs_groups": groups, "algorithm": algorithm, "policy": policy_cfg}
    else:
        from rsl_rl.models import MLPModel
        groups = {"student": ["policy"], "teacher": ["teacher"]}
        if release == "4.0.1":
            dist = {"stochastic": True, "init_noise_std": 0.3}
            dist_cfg = dict(dist)
        else:
            dist = {"distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.3}}
            dist_cfg = dict(dist)
        s_cfg = {"class_name": "MLPModel", "hidden_dims": hidden, "activation": "elu", "obs_normalization": True,
                 **dist_cfg}
        t_cfg = dict(s_cfg)
        student_model = MLPModel(data, groups, "student", 2, hidden, "elu", True, **dist)
        teacher_model = MLPModel(data, groups, "teacher", 2, hidden, "elu", True, **dist)
        student_model.update_normalization(data); teacher_model.update_normalization(data)
        perturb(student_model); perturb(teacher_model)
        student_model.eval(); teacher_model.eval()
        student, teacher = student_model, teacher_model
        params = student_model.parameters()
        train_cfg = {"num_steps_per_env": 8, "obs_groups": groups, "algorithm": algorithm,
                     "student": s_cfg, "teacher": t_cfg}
    optimizer = torch.optim.Adam(params, lr=1e-3)
    loss = ((student(data) - teacher(data).detach()) ** 2).mean()
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    if release in ("2.3.3", "3.3.0"):
        saved.update(model_state_dict=policy.state_dict(), optimizer_state_dict=optimizer.state_dict())
        if variant == "recurrent":
            policy.reset()
    else:
        saved.update(student_state_dict=student_model.state_dict(), teacher_state_dict=teacher_model.state_dict(),
                     optimizer_state_dict=optimizer.state_dict())
    with torch.no_grad():
        s_actions = torch.stack([student(o) for o in fixed])
        t_actions = torch.stack([teacher(o) for o in fixed])
    torch.save(saved, out_ckpt)
    torch.save({"release": release, "variant": variant, "train_cfg": train_cfg,
                "obs": {k: torch.stack([o[k] for o in fixed]) for k in ("policy", "teacher")},
                "student_actions": s_actions, "teacher_actions": t_actions}, out_io)
    """
)


def main() -> None:
    """Write every fixture (or the ones named with --only)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parents[1] / "tests" / "data" / "rsl_rl" / "distillation")
    )
    parser.add_argument("--releases", default="/tmp/stride-rsl-rl", help="folder with one install per release")
    parser.add_argument("--only", nargs="*", default=None, help="fixture names to make")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, (release, variant) in FIXTURES.items():
        if args.only and name not in args.only:
            continue
        target = os.path.join(args.releases, release)
        if not os.path.isdir(os.path.join(target, "rsl_rl")):
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-deps", "--target", target, f"rsl-rl-lib=={release}"],
                check=True,
            )
        env = dict(os.environ, PYTHONPATH=target)
        ckpt, io = os.path.join(args.out, f"{name}.pt"), os.path.join(args.out, f"{name}_io.pt")
        subprocess.run([sys.executable, "-c", _CHILD, release, variant, ckpt, io], check=True, env=env)
        sys.stdout.write(f"{name}: {ckpt}\n")


if __name__ == "__main__":
    main()
