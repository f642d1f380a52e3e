"""Tests for stride.env.symmetry: signed permutations, the worked mirror functions, and their simulator checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.env.symmetry import (
    SYMMETRY_FUNCTIONS,
    MirrorAugmentation,
    SignedPermutation,
    cartpole_symmetry,
    make_ant_symmetry,
    make_humanoid_symmetry,
    pendulum_symmetry,
)
from stride.env.symmetry import mujoco as mj
from stride.env.tasks import make_task
from stride.extensions.symmetry import check_augmentation_function
from stride.utils.errors import ConfigError, EnvContractError


class TestSignedPermutation:
    """A signed permutation computes y[i] = sign[i]·x[index[i]] and composes into block maps."""

    def test_golden_values(self) -> None:
        perm = SignedPermutation.from_pairs(4, swaps=[(0, 2, -1)], negate=[3])
        x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
        assert torch.equal(perm(x), torch.tensor([[-3.0, 2.0, -1.0, -4.0]]))
        assert perm.is_involution()

    def test_concat_and_repeat(self) -> None:
        block = SignedPermutation.diagonal([1, -1])
        both = SignedPermutation.concat(block, SignedPermutation.negation(1))
        assert torch.equal(both(torch.tensor([1.0, 2.0, 3.0])), torch.tensor([1.0, -2.0, -3.0]))
        # blocks swapped: output block 0 takes input block 1 and vice versa, each mapped by `block`
        swapped = block.repeat(2, [1, 0])
        assert torch.equal(swapped(torch.tensor([1.0, 2.0, 3.0, 4.0])), torch.tensor([3.0, -4.0, 1.0, -2.0]))

    def test_non_involution_detected(self) -> None:
        cycle = SignedPermutation([1, 2, 0], [1, 1, 1])
        assert not cycle.is_involution()
        with pytest.raises(ConfigError, match="applied twice"):
            MirrorAugmentation({"policy": cycle}, SignedPermutation.negation(1), name="bad")

    @pytest.mark.parametrize(("index", "sign"), [([0, 0], [1, 1]), ([0, 1], [1, 2]), ([0, 1], [1])])
    def test_invalid_maps_rejected(self, index: list[int], sign: list[float]) -> None:
        with pytest.raises(ConfigError, match="SignedPermutation"):
            SignedPermutation(index, sign)

    def test_wrong_size_names_expected_size(self) -> None:
        with pytest.raises(EnvContractError, match="last dimension to be 4"):
            SignedPermutation.negation(4)(torch.zeros(2, 5))

    def test_unknown_group_rejected(self) -> None:
        obs = TensorDict({"policy": torch.zeros(2, 4), "extra": torch.zeros(2, 1)}, batch_size=[2])
        with pytest.raises(EnvContractError, match="'extra'"):
            cartpole_symmetry(obs=obs)


def _sample(obs_dim: int, num_actions: int, batch: int = 33) -> tuple[TensorDict, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    obs = TensorDict({"policy": torch.randn(batch, obs_dim, generator=gen)}, batch_size=[batch])
    return obs, torch.randn(batch, num_actions, generator=gen)


WORKED = [
    ("cartpole", cartpole_symmetry, 4, 1),
    ("pendulum", pendulum_symmetry, 3, 1),
    ("pendulum-pomdp", SYMMETRY_FUNCTIONS["pendulum-pomdp"], 2, 1),
    ("memory", SYMMETRY_FUNCTIONS["memory"], 2, 1),
    ("Ant-v5", SYMMETRY_FUNCTIONS["Ant-v5"], 105, 8),
    ("Humanoid-v5", SYMMETRY_FUNCTIONS["Humanoid-v5"], 348, 17),
    ("Ant-v5 with x,y, no cfrc_ext", make_ant_symmetry(False, False), 29, 8),
    ("Humanoid-v5 qpos+qvel only", make_humanoid_symmetry(True, False, False, False, False), 45, 17),
]


class TestWorkedFunctions:
    """Every worked function passes the construction check, and mirror∘mirror is exactly the identity."""

    @pytest.mark.parametrize(("name", "func", "obs_dim", "num_actions"), WORKED, ids=[w[0] for w in WORKED])
    def test_passes_check_and_is_an_exact_involution(
        self, name: str, func: Any, obs_dim: int, num_actions: int
    ) -> None:
        obs, actions = _sample(obs_dim, num_actions)
        assert check_augmentation_function(func, None, obs, actions, obs_only_call=True) == 2
        obs_aug, actions_aug = func(obs=obs, actions=actions)
        obs_twice, actions_twice = func(obs=obs_aug[33:], actions=actions_aug[33:])
        assert torch.equal(obs_twice["policy"][33:], obs["policy"])
        assert torch.equal(actions_twice[33:], actions)
        # not the identity map: the mirror moves something
        assert not torch.equal(obs_aug["policy"][33:], obs["policy"])
        assert not torch.equal(actions_aug[33:], actions)

    def test_wrong_layout_rejected(self) -> None:
        obs, actions = _sample(27, 8)
        with pytest.raises(EnvContractError, match="last dimension to be 105"):
            SYMMETRY_FUNCTIONS["Ant-v5"](obs=obs, actions=actions)


class TestClassicTasksAgainstSimulator:
    """Stepping the mirrored state with the mirrored action gives the mirrored next state (built-in tasks).

    Cart-pole is exact to the bit; pendulum's reward differs by float32 rounding of angle wrapping only.
    """

    @pytest.mark.parametrize(
        ("task", "scale", "obs_sign", "bound"),
        [
            ("cartpole", [2.4, 3.0, 0.21, 3.0], [-1.0, -1.0, -1.0, -1.0], 0.0),
            ("pendulum", [6.3, 8.0], [1.0, -1.0, -1.0], 5e-6),
            ("pendulum-pomdp", [6.3, 8.0], [1.0, -1.0], 5e-6),
        ],
    )
    def test_mirrored_step(self, task: str, scale: list[float], obs_sign: list[float], bound: float) -> None:
        num_envs = 2048
        original: Any = make_task(task, num_envs=num_envs, seed=0)
        mirrored: Any = make_task(task, num_envs=num_envs, seed=1)
        mirror = SYMMETRY_FUNCTIONS[task]
        gen = torch.Generator().manual_seed(1)
        worst = 0.0
        num_done = 0
        for _ in range(10):
            # states spread over the whole valid range, including ones that terminate this step
            state = (torch.rand(num_envs, len(scale), generator=gen) * 2 - 1) * torch.tensor(scale)
            actions = torch.rand(num_envs, 1, generator=gen) * 2 - 1
            original.state.copy_(state)
            mirrored.state.copy_(-state)  # both tasks' states are odd under the mirror
            _, rew, dones, extras = original.step(actions)
            _, rew_m, dones_m, extras_m = mirrored.step(mirror(actions=actions)[1][num_envs:])
            expected = mirror(obs=extras["final_obs"])[0]
            assert expected is not None
            # final_obs is the pre-reset observation of every env
            worst = max(
                worst,
                (extras_m["final_obs"]["policy"] - expected["policy"][num_envs:]).abs().max().item(),
                (rew_m - rew).abs().max().item(),
            )
            assert torch.equal(dones_m, dones)
            num_done += int(dones.sum())
        assert torch.equal(expected["policy"][num_envs:], extras["final_obs"]["policy"] * torch.tensor(obs_sign))
        assert worst <= bound
        if task == "cartpole":
            assert num_done > 0  # termination bounds were exercised

    def test_memory_cue_mirrored_step_is_exact(self) -> None:
        num_envs = 512
        original: Any = make_task("memory", num_envs=num_envs, seed=0)
        mirrored: Any = make_task("memory", num_envs=num_envs, seed=1)
        mirror = SYMMETRY_FUNCTIONS["memory"]
        gen = torch.Generator().manual_seed(2)
        answered = 0
        for _ in range(30):
            cue = torch.randint(0, 2, (num_envs,), generator=gen).float() * 2 - 1
            clock = torch.randint(0, original.episode_length, (num_envs,), generator=gen)
            for task, sign in ((original, 1.0), (mirrored, -1.0)):
                task.cue.copy_(sign * cue)
                task.clock.copy_(clock)
            actions = torch.rand(num_envs, 1, generator=gen) * 2 - 1
            _, rew, dones, extras = original.step(actions)
            _, rew_m, dones_m, extras_m = mirrored.step(-actions)
            expected = mirror(obs=extras["final_obs"])[0]
            assert expected is not None
            assert torch.equal(extras_m["final_obs"]["policy"], expected["policy"][num_envs:])
            assert torch.equal(rew_m, rew) and torch.equal(dones_m, dones)
            answered += int((rew != 0).sum())
        assert answered > 0  # the rewarded answer step was exercised


# ------------------------------------------------------------------------------------------------ MuJoCo
ANT = ("Ant-v5", mj.make_ant_symmetry(), mj.ANT_QPOS_MIRROR, mj.ANT_QVEL_MIRROR)
HUMANOID = ("Humanoid-v5", mj.make_humanoid_symmetry(), mj.HUMANOID_QPOS_MIRROR, mj.HUMANOID_QVEL_MIRROR)


def _symmetric_humanoid_xml(tmp_path: Path) -> str:
    """humanoid.xml with its two left/right asymmetries removed and the exact Newton solver."""
    gymnasium = pytest.importorskip("gymnasium")
    source = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / "humanoid.xml"
    text = source.read_text(encoding="utf-8")
    fixes = [
        # right_hip_y has armature 0.0080, left_hip_y 0.01
        (
            'armature="0.0080" axis="0 1 0" damping="5" name="right_hip_y"',
            'armature="0.01" axis="0 1 0" damping="5" name="right_hip_y"',
        ),
        # left_knee has stiffness 1, right_knee none
        (
            'name="left_knee" pos="0 0 .02" range="-160 -2" stiffness="1"',
            'name="left_knee" pos="0 0 .02" range="-160 -2"',
        ),
        # PGS's Gauss–Seidel sweep depends on the constraint order, which the mirror changes
        ('iterations="50" solver="PGS"', 'iterations="100" tolerance="1e-12" solver="Newton"'),
    ]
    for old, new in fixes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "humanoid_symmetric.xml"
    path.write_text(text, encoding="utf-8")
    return str(path)


class TestMuJoCoAgainstSimulator:
    """MuJoCo steps a mirrored state with the mirrored action into the mirrored next state.

    Measured (20 states from a random-action rollout, seed 0): Ant-v5 ≤ 2e-15 everywhere (exact up to rounding).
    Stock Humanoid-v5 is not mirror-symmetric: its XML gives right_hip_y armature 0.008 vs 0.01 on the left and
    left_knee stiffness 1 vs 0 on the right, and PGS depends on constraint order; one step then differs by up to
    ≈ 2.5e-3 in qpos, 0.21 in qvel and 9.0 in the observation (contact forces, scale ≈ 1.3e3). With those two
    joints made equal and the Newton solver, the error falls to ≤ 1e-11: the maps themselves are exact.
    """

    @pytest.fixture(autouse=True)
    def _needs_mujoco(self) -> None:
        pytest.importorskip("gymnasium")
        pytest.importorskip("mujoco")

    def test_ant_is_exact(self) -> None:
        errors = mj.mujoco_mirror_error(*ANT, num_states=20)
        assert errors["qpos"] < 1e-12 and errors["qvel"] < 1e-12 and errors["obs"] < 1e-12
        assert errors["reward"] < 1e-12
        assert errors["obs_scale"] > 1.0  # contact forces and velocities were exercised

    def test_ant_check_detects_a_wrong_map(self) -> None:
        # force and torque halves of cfrc_ext swapped: the simulator check must catch it
        wrong_spatial = SignedPermutation.concat(mj._POSITION, mj._AXIAL)
        obs_map = SignedPermutation.concat(
            mj._drop_xy(mj.ANT_QPOS_MIRROR), mj.ANT_QVEL_MIRROR, wrong_spatial.repeat(13, mj._ANT_BODIES)
        )
        wrong = MirrorAugmentation({"policy": obs_map}, ANT[1].action_map, name="wrong")
        errors = mj.mujoco_mirror_error("Ant-v5", wrong, ANT[2], ANT[3], num_states=10)
        assert errors["obs"] > 1e-3
        assert errors["qpos"] < 1e-12  # the state maps were right; only the observation map was wrong

    def test_humanoid_stock_within_measured_bound(self) -> None:
        errors = mj.mujoco_mirror_error(*HUMANOID, num_states=20)
        assert errors["qpos"] < 1e-2 and errors["qvel"] < 0.5 and errors["obs"] < 20.0
        assert errors["reward"] < 0.05
        assert errors["obs"] > 1e-6  # the model's asymmetry is real and visible

    def test_humanoid_maps_exact_on_symmetric_model(self, tmp_path: Path) -> None:
        xml = _symmetric_humanoid_xml(tmp_path)
        errors = mj.mujoco_mirror_error(*HUMANOID, num_states=20, xml_file=xml)
        assert errors["qpos"] < 1e-11 and errors["qvel"] < 1e-11 and errors["obs"] < 1e-9
        assert errors["obs_scale"] > 100.0
