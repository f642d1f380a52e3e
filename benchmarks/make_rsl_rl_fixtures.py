"""Make the rsl_rl checkpoint fixtures under tests/data/rsl_rl/ with the real rsl_rl releases.

Not run in CI: the fixtures it writes are committed. For every fixture the matching ``rsl-rl-lib`` release is
installed into its own folder (``pip install --no-deps --target``; torch, tensordict, GitPython and tensorboard come
from the running environment) and run in its own python process with that folder first on PYTHONPATH. Each process
trains a small actor-critic (hidden dims [32, 32], policy observations of size 5, critic observations of size 7,
2 actions, observation normalization on) for 3 PPO iterations on a tiny linear env through the release's own
``OnPolicyRunner``, saves the checkpoint with the runner's own ``save``, and records the release's deterministic
actions, values and action std on 100 fixed observations.

Usage::

    .venv/bin/python benchmarks/make_rsl_rl_fixtures.py [--out tests/data/rsl_rl] [--releases /tmp/stride-rsl-rl]

Files per fixture ``<name>``: ``<name>.pt`` (the checkpoint, exactly as the release wrote it) and ``<name>_io.pt``
(``release``, ``train_cfg`` in the release's own format, ``obs`` {"policy": (100, 5), "critic": (100, 7)},
``actions`` (100, 2), ``values`` (100, 1), ``action_std`` (100, 2)).
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import torch

# name → (release, variant); the variant picks std parameterization and normalization spelling
FIXTURES: dict[str, tuple[str, str]] = {
    "rsl_rl_2.3.3": ("2.3.3", "scalar"),
    "rsl_rl_3.3.0_log_std": ("3.3.0", "log"),
    "rsl_rl_3.3.0_state_dependent_std": ("3.3.0", "state_dependent"),
    "rsl_rl_4.0.1": ("4.0.1", "scalar"),
    "rsl_rl_4.0.1_state_dependent_log_std": ("4.0.1", "state_dependent_log"),
    "rsl_rl_5.5.1": ("5.5.1", "scalar"),
}

NUM_ENVS = 16
NUM_STEPS = 8
NUM_ITERATIONS = 3
HIDDEN = [32, 32]
POLICY_DIM, CRITIC_DIM, NUM_ACTIONS = 5, 7, 2
NUM_FIXED_OBS = 100
SEED = 7

# observation = state-derived features × scale + offset: far from zero mean / unit variance, so the normalizers matter
POLICY_SCALE = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5])
POLICY_OFFSET = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0])
CRITIC_SCALE = torch.tensor([0.5, 1.0, 2.0, 1.0, 4.0, 1.0, 0.25])
CRITIC_OFFSET = torch.tensor([-3.0, 1.0, 0.0, 2.0, 5.0, -1.0, 0.5])

ALGORITHM: dict[str, Any] = {
    "class_name": "PPO",
    "value_loss_coef": 1.0,
    "use_clipped_value_loss": True,
    "clip_param": 0.2,
    "entropy_coef": 0.005,
    "num_learning_epochs": 2,
    "num_mini_batches": 2,
    "learning_rate": 3e-3,
    "schedule": "adaptive",
    "gamma": 0.99,
    "lam": 0.95,
    "desired_kl": 0.01,
    "max_grad_norm": 1.0,
    "normalize_advantage_per_mini_batch": False,
    "rnd_cfg": None,
    "symmetry_cfg": None,
}

# keys Isaac Lab's runner config adds; every release ignores them
RUNNER: dict[str, Any] = {
    "class_name": "OnPolicyRunner",
    "seed": SEED,
    "device": "cpu",
    "num_steps_per_env": NUM_STEPS,
    "max_iterations": NUM_ITERATIONS,
    "save_interval": 100,
    "experiment_name": "fixture",
    "run_name": "",
    "logger": "tensorboard",
    "resume": False,
    "load_run": ".*",
    "load_checkpoint": "model_.*.pt",
    "clip_actions": None,
}


def train_cfg(release: str, variant: str) -> dict[str, Any]:
    """The train_cfg of one fixture, in the format its release reads."""
    major = int(release.split(".")[0])
    std_type = "log" if variant in ("log", "state_dependent_log") else "scalar"
    state_dependent = variant.startswith("state_dependent")
    cfg: dict[str, Any] = {**copy.deepcopy(RUNNER), "algorithm": copy.deepcopy(ALGORITHM)}
    if major == 2:
        # normalizers live in the runner
        cfg["empirical_normalization"] = True
        cfg["policy"] = {
            "class_name": "ActorCritic",
            "init_noise_std": 0.8,
            "noise_std_type": std_type,
            "actor_hidden_dims": HIDDEN,
            "critic_hidden_dims": HIDDEN,
            "activation": "elu",
        }
    elif major == 3:
        cfg["obs_groups"] = {"policy": ["policy"], "critic": ["critic"]}
        cfg["policy"] = {
            "class_name": "ActorCritic",
            "init_noise_std": 0.8,
            "noise_std_type": std_type,
            "state_dependent_std": state_dependent,
            "actor_hidden_dims": HIDDEN,
            "critic_hidden_dims": HIDDEN,
            "activation": "elu",
        }
        if state_dependent:
            cfg["empirical_normalization"] = True  # the deprecated 3.x spelling
        else:
            cfg["policy"].update(actor_obs_normalization=True, critic_obs_normalization=True)
    elif major == 4:
        cfg["obs_groups"] = {"actor": ["policy"], "critic": ["critic"]}
        cfg["algorithm"]["optimizer"] = "adam"
        common = {"class_name": "MLPModel", "hidden_dims": HIDDEN, "activation": "elu", "obs_normalization": True}
        cfg["actor"] = {
            **common,
            "stochastic": True,
            "init_noise_std": 0.8,
            "noise_std_type": std_type,
            "state_dependent_std": state_dependent,
        }
        cfg["critic"] = {**common, "stochastic": False}
    else:
        cfg["obs_groups"] = {"actor": ["policy"], "critic": ["critic"]}
        cfg["algorithm"]["optimizer"] = "adam"
        common = {"class_name": "MLPModel", "hidden_dims": HIDDEN, "activation": "elu", "obs_normalization": True}
        dist = "HeteroscedasticGaussianDistribution" if state_dependent else "GaussianDistribution"
        cfg["actor"] = {**common, "distribution_cfg": {"class_name": dist, "init_std": 0.8, "std_type": std_type}}
        cfg["critic"] = dict(common)
    return cfg


def observations(state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Policy (N, 5) and critic (N, 7) observations of a batch of 5-D states."""
    policy = state * POLICY_SCALE + POLICY_OFFSET
    critic = torch.cat([state, state[:, :2].square()], dim=-1) * CRITIC_SCALE + CRITIC_OFFSET
    return policy, critic


class LinearEnv:
    """A batched linear system with a quadratic cost, speaking the VecEnv API of rsl_rl 2.x (tuples) or 3.x+."""

    def __init__(self, tensordict_api: bool) -> None:
        self.generator = torch.Generator().manual_seed(SEED)
        self.tensordict_api = tensordict_api
        self.num_envs = NUM_ENVS
        self.num_actions = NUM_ACTIONS
        self.max_episode_length = 20
        self.episode_length_buf = torch.zeros(NUM_ENVS, dtype=torch.long)
        self.device = "cpu"
        self.cfg = {"name": "linear"}
        self.step_dt = 0.02
        self.dynamics = torch.eye(5) * 0.95 + 0.05 * torch.randn(5, 5, generator=self.generator)
        self.control = torch.randn(NUM_ACTIONS, 5, generator=self.generator) * 0.3
        self.state = torch.randn(NUM_ENVS, 5, generator=self.generator)

    @property
    def unwrapped(self) -> LinearEnv:
        return self

    def _observations(self) -> Any:
        policy, critic = observations(self.state)
        if self.tensordict_api:
            from tensordict import TensorDict

            return TensorDict({"policy": policy, "critic": critic}, batch_size=[NUM_ENVS])
        return policy, {"observations": {"critic": critic}}

    def get_observations(self) -> Any:
        return self._observations()

    def step(self, actions: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor, dict[str, Any]]:
        actions = actions.clamp(-3.0, 3.0)
        noise = 0.05 * torch.randn(NUM_ENVS, 5, generator=self.generator)
        self.state = self.state @ self.dynamics.T + actions @ self.control + noise
        rewards = -self.state.square().sum(-1) - 0.01 * actions.square().sum(-1)
        self.episode_length_buf += 1
        time_outs = self.episode_length_buf >= self.max_episode_length
        dones = time_outs.clone()
        if dones.any():
            reset = dones.nonzero().squeeze(-1)
            self.state[reset] = torch.randn(len(reset), 5, generator=self.generator)
            self.episode_length_buf[reset] = 0
        extras: dict[str, Any] = {"time_outs": time_outs, "log": {"/state_norm": self.state.norm(dim=-1).mean()}}
        if self.tensordict_api:
            return self._observations(), rewards, dones, extras
        policy, obs_extras = self._observations()
        extras.update(obs_extras)
        return policy, rewards, dones, extras


def fixed_observations() -> dict[str, torch.Tensor]:
    """The 100 observations the fixtures record actions for (in the env's distribution, seed independent of it)."""
    state = torch.randn(NUM_FIXED_OBS, 5, generator=torch.Generator().manual_seed(1234))
    policy, critic = observations(state)
    return {"policy": policy, "critic": critic}


def run_worker(name: str, release: str, variant: str, out: Path) -> None:
    """Train, save and record one fixture with the rsl_rl release importable in this process."""
    found = importlib.metadata.version("rsl-rl-lib")
    if found != release:
        raise RuntimeError(f"{name}: expected rsl-rl-lib {release} on the path, found {found}.")
    from rsl_rl.runners import OnPolicyRunner

    torch.manual_seed(SEED)
    major = int(release.split(".")[0])
    cfg = train_cfg(release, variant)
    env = LinearEnv(tensordict_api=major >= 3)
    with tempfile.TemporaryDirectory() as log_dir:
        # runners mutate the dict they are given
        runner = OnPolicyRunner(cast(Any, env), copy.deepcopy(cfg), log_dir=log_dir, device="cpu")
        runner.learn(NUM_ITERATIONS)
        runner.save(str(out / f"{name}.pt"))
    obs = fixed_observations()
    with torch.no_grad():
        actions, values, std = _release_outputs(runner, major, obs)
    io = {
        "release": release,
        "variant": variant,
        "train_cfg": cfg,
        "obs": obs,
        "actions": actions.detach().clone(),
        "values": values.detach().clone(),
        "action_std": std.detach().clone(),
    }
    torch.save(io, out / f"{name}_io.pt")


def _release_outputs(runner: Any, major: int, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Deterministic actions, values and action std of the release's own models on ``obs``."""
    if major == 2:
        policy = runner.get_inference_policy()  # normalizes with the runner's obs normalizer
        actions = policy(obs["policy"])
        module = runner.alg.policy
        normalized = runner.obs_normalizer(obs["policy"])
        values = module.evaluate(runner.privileged_obs_normalizer(obs["critic"]))
        module.update_distribution(normalized)
        return actions, values, module.action_std
    from tensordict import TensorDict

    td = TensorDict(dict(obs), batch_size=[NUM_FIXED_OBS])
    if major == 3:
        runner.alg.policy.eval()
        module = runner.alg.policy
        actions = module.act_inference(td)
        values = module.evaluate(td)
        module.act(td)
        return actions, values, module.action_std
    runner.alg.eval_mode()
    actor, critic = runner.alg.actor, runner.alg.critic
    actions = actor(td)
    values = critic(td)
    actor(td, stochastic_output=True)
    return actions, values, actor.output_std


def install(release: str, releases_dir: Path) -> Path:
    """Install ``rsl-rl-lib==release`` without dependencies into its own folder (once)."""
    target = releases_dir / release
    if not (target / "rsl_rl").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
             f"rsl-rl-lib=={release}"],
            check=True,
        )  # fmt: skip
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/data/rsl_rl")
    parser.add_argument("--releases", type=Path, default=Path(tempfile.gettempdir()) / "stride-rsl-rl")
    parser.add_argument("--only", nargs="*", default=None, help="fixture names to (re)make; all when omitted")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.worker is not None:
        release, variant = FIXTURES[args.worker]
        run_worker(args.worker, release, variant, args.out)
        return
    for name, (release, variant) in FIXTURES.items():
        if args.only and name not in args.only:
            continue
        folder = install(release, args.releases)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]))
        result = subprocess.run(
            [sys.executable, __file__, "--worker", name, "--out", str(args.out)],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise SystemExit(f"{name}: rsl-rl-lib {release} failed (exit {result.returncode})")
        sizes = sum((args.out / f).stat().st_size for f in (f"{name}.pt", f"{name}_io.pt"))
        sys.stdout.write(f"{name}: rsl-rl-lib {release} ({variant}) → {sizes / 1024:.1f} KiB\n")


if __name__ == "__main__":
    main()
