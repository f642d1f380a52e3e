"""Train cart-pole with symmetry augmentation and the mirror loss, using a hand-written mirror function.

The function has rsl_rl's signature, so the same function works with rsl_rl and with Isaac Lab's
``symmetry_cfg``. stride also ships it (``data_augmentation_func: "cartpole"``); it is spelled out here as the
template for your own robot. For signed-permutation mirrors, ``stride.env.symmetry.MirrorAugmentation`` builds
the same thing from index/sign tables.

    OMP_NUM_THREADS=1 python examples/symmetry_cartpole.py
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner


def mirror_cartpole(
    env: Any = None, obs: TensorDict | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Originals first, then their mirror images: (x, ẋ, θ, θ̇) → −(x, ẋ, θ, θ̇), force → −force."""
    obs_aug = None
    if obs is not None:
        policy = obs["policy"]
        obs_aug = TensorDict({"policy": torch.cat([policy, -policy])}, batch_size=[2 * policy.shape[0]])
    actions_aug = None if actions is None else torch.cat([actions, -actions])
    return obs_aug, actions_aug


def main() -> None:
    """Train for 60 iterations; the console line shows the mirror loss as `sym`."""
    env = make_task("cartpole", num_envs=256, seed=0)
    train_cfg = {
        "num_steps_per_env": 24,
        "seed": 0,
        "algorithm": {
            "entropy_coef": 0.005,
            "symmetry_cfg": {
                "use_data_augmentation": True,
                "use_mirror_loss": True,
                "mirror_loss_coeff": 1.0,
                "data_augmentation_func": mirror_cartpole,
            },
        },
        "actor": {"hidden_dims": [64, 64], "distribution_cfg": {"class_name": "GaussianDistribution"}},
        "critic": {"hidden_dims": [64, 64]},
    }
    runner = OnPolicyRunner(env, train_cfg, log_dir=None)
    runner.learn(60)


if __name__ == "__main__":
    main()
