"""CNN models: rsl_rl layout and outputs, 1-D-only normalization, strict config errors, export fidelity."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.models import CNNModel, MLPModel
from stride.models.registry import build_model
from stride.utils.errors import ConfigError

N = 8
CNN_CFG: dict[str, Any] = {"output_channels": [4, 8], "kernel_size": 3, "stride": 2}
DIST: dict[str, Any] = {"class_name": "GaussianDistribution", "init_std": 0.5}


def _obs(n: int = N, seed: int = 0) -> TensorDict:
    """Two 1-D groups and two image groups of different shapes."""
    gen = torch.Generator().manual_seed(seed)
    return TensorDict(
        {
            "policy": torch.randn(n, 5, generator=gen) * 2 + 1,
            "camera": torch.rand(n, 1, 16, 16, generator=gen),
            "depth": torch.rand(n, 2, 12, 10, generator=gen),
            "prop": torch.randn(n, 3, generator=gen),
        },
        batch_size=[n],
    )


GROUPS = {"actor": ["policy", "camera", "prop", "depth"], "critic": ["camera"], "both_images": ["camera", "depth"]}


def _model(obs_set: str = "actor", obs_normalization: bool = False, **kw: Any) -> CNNModel:
    torch.manual_seed(0)
    kw.setdefault("cnn_cfg", CNN_CFG)
    dist, out = (DIST, 3) if obs_set == "actor" else (None, 1)
    return CNNModel(_obs(), GROUPS, obs_set, out, [32, 32], "elu", obs_normalization, dist, **kw)


class TestRslRlEquivalence:
    """Same state-dict keys and shapes as rsl_rl's CNNModel, equal initial weights for equal seeds, and equal
    outputs (≤ 1e-6) after loading its state dict, for shared and per-group encoder configs."""

    @pytest.mark.parametrize(
        ("obs_set", "obs_normalization", "cnn_cfg"),
        [
            ("actor", True, CNN_CFG),
            (
                "actor",
                False,
                {"camera": {**CNN_CFG, "norm": "batch"}, "depth": {"output_channels": [6], "kernel_size": 5}},
            ),
            ("critic", False, {**CNN_CFG, "padding": "zeros", "max_pool": True, "global_pool": "avg"}),
            ("both_images", False, {**CNN_CFG, "norm": "layer", "activation": "relu"}),
        ],
    )
    def test_layout_and_outputs(self, obs_set: str, obs_normalization: bool, cnn_cfg: dict[str, Any]) -> None:
        rsl = pytest.importorskip("rsl_rl.models")
        ours = _model(obs_set, obs_normalization, cnn_cfg=cnn_cfg)
        torch.manual_seed(0)
        dist = {**DIST, "class_name": "rsl_rl.modules.GaussianDistribution"} if obs_set == "actor" else None
        out = 3 if obs_set == "actor" else 1
        theirs = rsl.CNNModel(_obs(), GROUPS, obs_set, out, [32, 32], "elu", obs_normalization, dist, cnn_cfg)
        ours_state, their_state = ours.state_dict(), theirs.state_dict()
        assert [(k, tuple(v.shape)) for k, v in ours_state.items()] == [
            (k, tuple(v.shape)) for k, v in their_state.items()
        ]
        # encoders first, then the MLP (rsl_rl's construction order): the same seed draws the same weights
        assert all(torch.equal(ours_state[k], their_state[k]) for k in ours_state)
        # load trained-looking weights from rsl_rl into stride and compare the deterministic outputs
        with torch.no_grad():
            for p in theirs.parameters():
                p.add_(0.1 * torch.randn_like(p))
        if obs_normalization:
            theirs.update_normalization(_obs(64, seed=3))
        ours.load_state_dict(theirs.state_dict())
        ours.eval()
        theirs.eval()
        obs = _obs(seed=5)
        with torch.no_grad():
            assert (ours(obs) - theirs(obs)).abs().max().item() <= 1e-6


class TestStructure:
    """The latent is [normalized 1-D groups, encoder features in group order]; parameter counts are golden."""

    def test_latent_order_and_normalization(self) -> None:
        model = _model("actor", obs_normalization=True)
        model.update_normalization(_obs(64, seed=1))
        obs = _obs(seed=2)
        vector = torch.cat([obs["policy"], obs["prop"]], dim=-1)
        expected = torch.cat(
            [
                (vector - model.obs_normalizer.mean) / (model.obs_normalizer.std + 1e-2),  # type: ignore[operator]
                model.cnns["camera"](obs["camera"]),
                model.cnns["depth"](obs["depth"]),
            ],
            dim=-1,
        )
        assert model.obs_groups == ["policy", "prop"] and model.image_groups == ["camera", "depth"]
        assert (model.latent(obs) - expected).abs().max().item() <= 1e-6

    def test_update_normalization_sees_only_1d_part(self) -> None:
        model = _model("actor", obs_normalization=True)
        batch = _obs(64, seed=1)
        model.update_normalization(batch)
        vector = torch.cat([batch["policy"], batch["prop"]], dim=-1)
        assert model.obs_normalizer.mean.shape == (8,)  # type: ignore[union-attr]
        assert torch.allclose(model.obs_normalizer.mean, vector.mean(0), atol=1e-6)  # type: ignore[arg-type]

    def test_golden_parameter_count(self) -> None:
        # camera 1×16×16: conv 1→4 (k3 s2) 16→7 = 40 params, conv 4→8 7→3 = 296; features 8·3·3 = 72
        # depth 2×12×10: conv 2→4 = 76, conv 4→8 = 296; 12×10 → 5×4 → 2×1; features 8·2·1 = 16
        # MLP (8 + 72 + 16 = 96) → 32 → 32 → 3: 3104 + 1056 + 99; Gaussian std: 3
        model = _model("actor")
        assert model.mlp.input_dim == 96
        expected = (40 + 296) + (76 + 296) + (96 * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3) + 3
        assert sum(p.numel() for p in model.parameters()) == expected == 4970

    def test_leading_batch_dims(self) -> None:
        # a (T, N, ...) batch (as when a recurrent model shares the mini-batch) equals the flattened forward
        model = _model("actor")
        obs = _obs(12, seed=4)
        folded = TensorDict({k: v.reshape(3, 4, *v.shape[1:]) for k, v in obs.items()}, batch_size=[3, 4])
        with torch.no_grad():
            assert (model(folded).reshape(12, 3) - model(obs)).abs().max().item() <= 1e-6


class TestConfigErrors:
    """Bad CNN model configurations raise ConfigError naming the place and the fix; the input dict is untouched."""

    def _build(self, section: dict[str, Any], obs_set: str = "actor") -> None:
        build_model(section, _obs(), GROUPS, obs_set, 3, obs_set)

    @pytest.mark.parametrize(
        ("section", "fragment"),
        [
            ({"cnn_cfg": {**CNN_CFG, "kernal_size": 3}}, "'actor.cnn_cfg.kernal_size' (did you mean 'kernel_size'?)"),
            (
                {"cnn_cfg": {"camera": CNN_CFG, "depth": {"output_channel": [4]}}},
                "'actor.cnn_cfg.depth.output_channel'",
            ),
            ({"cnn_cfg": {**CNN_CFG, "kernel_size": 0}}, "'actor.cnn_cfg.kernel_size' must be >= 1"),
            ({"cnn_cfg": {**CNN_CFG, "stride": [1, 2, 2]}}, "'actor.cnn_cfg.stride' has 3 entries"),
            ({"cnn_cfg": {**CNN_CFG, "padding": "zero"}}, "(did you mean 'zeros'?)"),
            ({"cnn_cfg": {**CNN_CFG, "global_pool": "mean"}}, "'actor.cnn_cfg.global_pool' must be one of"),
            ({"cnn_cfg": {**CNN_CFG, "norm": "group"}}, "'actor.cnn_cfg.norm' must be"),
            ({"cnn_cfg": {**CNN_CFG, "flatten": False}}, "'actor.cnn_cfg.flatten' must be true in a CNNModel"),
            ({"cnn_cfg": {"output_channels": []}}, "'actor.cnn_cfg.output_channels' must list"),
            ({"cnn_cfg": {"camera": CNN_CFG}}, "missing: ['depth']"),
            ({"cnn_cfg": {"camera": CNN_CFG, "depth": CNN_CFG, "rgb": CNN_CFG}}, "not images of the set: ['rgb']"),
            ({}, "actor.cnn_cfg is required"),
            ({"cnn_cfg": {**CNN_CFG, "kernel_size": 9}}, "actor.cnn_cfg (image group 'camera', 1×16×16)"),
            ({"cnn_cfg": {**CNN_CFG, "activation": "rleu"}}, "Unknown activation 'rleu'"),
        ],
    )
    def test_rejected(self, section: dict[str, Any], fragment: str) -> None:
        section = {"class_name": "CNNModel", "distribution_cfg": DIST, **section}
        snapshot = repr(section)
        with pytest.raises(ConfigError) as info:
            self._build(section)
        assert fragment in str(info.value)
        assert repr(section) == snapshot

    def test_no_image_group(self) -> None:
        obs = _obs()
        with pytest.raises(ConfigError, match=r"CNNModel needs at least one image group.*Use MLPModel"):
            CNNModel(obs, {"actor": ["policy", "prop"]}, "actor", 3, cnn_cfg=CNN_CFG)

    def test_image_given_to_mlp_model(self) -> None:
        with pytest.raises(ConfigError, match="Use CNNModel for images"):
            MLPModel(_obs(), {"actor": ["policy", "camera"]}, "actor", 3)

    def test_image_without_channel_dim(self) -> None:
        obs = TensorDict({"camera": torch.rand(N, 16, 16)}, batch_size=[N])
        with pytest.raises(ConfigError, match=r"has shape \(8, 16, 16\). Add the channel dimension"):
            CNNModel(obs, {"actor": ["camera"]}, "actor", 3, cnn_cfg=CNN_CFG)

    def test_normalization_without_1d_group(self) -> None:
        with pytest.raises(ConfigError, match=r"critic\.obs_normalization is true but the 'critic' set has no 1-D"):
            _model("critic", obs_normalization=True)

    def test_shared_encoders_must_match_the_images(self) -> None:
        actor = _model("actor")
        with pytest.raises(ConfigError, match="must read the same image groups"):
            _model("critic", cnns=actor.cnns)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
class TestExport:
    """R20: the TorchScript export (obs, [images]) equals the eager deterministic output within 1e-5."""

    @pytest.mark.parametrize(("obs_set", "obs_normalization"), [("actor", True), ("critic", False)])
    def test_script_equals_eager(self, obs_set: str, obs_normalization: bool) -> None:
        cnn_cfg = {**CNN_CFG, "norm": "layer", "max_pool": [True, False], "padding": "zeros"}
        model = _model(obs_set, obs_normalization, cnn_cfg=cnn_cfg)
        if obs_normalization:
            model.update_normalization(_obs(64, seed=1))
        model.eval()
        scripted = torch.jit.script(model.as_jit())
        obs = _obs(1000, seed=6)
        vector = torch.cat([obs[g] for g in model.obs_groups], dim=-1) if model.obs_groups else torch.zeros(1000, 0)
        images = [obs[g] for g in model.image_groups]
        with torch.no_grad():
            eager = model(obs)
            exported = scripted(vector, images)
        assert exported.shape == eager.shape == (1000, 3 if obs_set == "actor" else 1)
        assert (exported - eager).abs().max().item() <= 1e-5
