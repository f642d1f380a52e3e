"""Tests for stride.modules.distributions."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from rsl_rl.modules import BetaDistribution as RslBeta
from rsl_rl.modules import GaussianDistribution as RslGaussian
from rsl_rl.modules import HeteroscedasticGaussianDistribution as RslHeteroscedastic
from torch.distributions import Beta, Normal, kl_divergence

from stride.modules.distributions import (
    BetaDistribution,
    Distribution,
    GaussianDistribution,
    HeteroscedasticGaussianDistribution,
    StdType,
    resolve_distribution,
)
from stride.modules.mlp import MLP
from stride.utils.errors import ConfigError

B, A = 64, 5


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _gaussian_params(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _gen(seed)
    return torch.randn(B, A, generator=gen) * 2.0, torch.rand(B, A, generator=gen) * 2.0 + 0.05


def _beta_params(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _gen(seed)
    return 1.0 + torch.rand(B, A, generator=gen) * 8.0, 1.0 + torch.rand(B, A, generator=gen) * 8.0


class TestGaussianMaths:
    """Closed-form Gaussian log-prob, entropy and KL equal torch.distributions.Normal to 1e-5; KL(p||p) == 0."""

    @pytest.mark.parametrize("dist", [GaussianDistribution(A), HeteroscedasticGaussianDistribution(A)])
    def test_equals_torch_normal(self, dist: Distribution) -> None:
        params = _gaussian_params(0)
        other = _gaussian_params(1)
        actions = torch.randn(B, A, generator=_gen(2)) * 3.0
        ref = Normal(*params)
        torch.testing.assert_close(dist.log_prob(params, actions), ref.log_prob(actions).sum(-1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dist.entropy(params), ref.entropy().sum(-1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            dist.kl(params, other), kl_divergence(ref, Normal(*other)).sum(-1), rtol=1e-5, atol=1e-5
        )
        assert dist.log_prob(params, actions).shape == (B,)
        assert dist.entropy(params).shape == (B,)
        assert torch.equal(dist.mode(params), params[0])
        assert torch.equal(dist.std(params), params[1])

    def test_kl_of_identical_is_zero(self) -> None:
        dist = GaussianDistribution(A)
        params = _gaussian_params(3)
        kl = dist.kl(params, tuple(p.clone() for p in params))
        assert kl.shape == (B,)
        assert kl.abs().max() <= 1e-7

    def test_sample_statistics_and_reparameterisation(self) -> None:
        torch.manual_seed(0)
        dist = GaussianDistribution(2)
        mean = torch.tensor([[2.0, -3.0]], requires_grad=True)
        std = torch.tensor([[0.5, 1.5]])
        samples = dist.sample((mean.expand(200_000, 2), std.expand(200_000, 2)))
        assert samples.shape == (200_000, 2)
        sample_mean = samples.detach().mean(0)
        sample_std = samples.detach().std(0)
        assert ((sample_mean - mean.detach()[0]).abs() <= 0.01 * mean.detach()[0].abs()).all()
        assert ((sample_std - std[0]).abs() <= 0.01 * std[0]).all()
        samples.sum().backward()
        assert mean.grad is not None
        torch.testing.assert_close(mean.grad, torch.tensor([[200_000.0, 200_000.0]]))


class TestGaussianStd:
    """The learned std is clamped to std_range at both ends (and in log space for std_type='log')."""

    def test_scalar_clamp_both_ends(self) -> None:
        dist = GaussianDistribution(3, init_std=0.5, std_range=(0.1, 2.0))
        with torch.no_grad():
            dist.std_param.copy_(torch.tensor([0.01, 0.7, 50.0]))
        _, std = dist.params(torch.zeros(4, 3))
        assert std.shape == (4, 3)
        assert torch.equal(std[0], torch.tensor([0.1, 0.7, 2.0]))

    def test_log_clamp_both_ends(self) -> None:
        dist = GaussianDistribution(3, init_std=0.5, std_range=(0.1, 2.0), std_type="log")
        assert not hasattr(dist, "std_param")
        torch.testing.assert_close(dist.log_std_param.detach(), torch.full((3,), math.log(0.5)))
        with torch.no_grad():
            dist.log_std_param.copy_(torch.tensor([-10.0, math.log(0.7), 10.0]))
        _, std = dist.params(torch.zeros(2, 3))
        torch.testing.assert_close(std[1], torch.tensor([0.1, 0.7, 2.0]), rtol=1e-6, atol=0.0)

    def test_heteroscedastic_clamp(self) -> None:
        cases: list[tuple[StdType, list[float]]] = [("scalar", [0.0, 0.3, 9.0]), ("log", [-30.0, math.log(0.3), 30.0])]
        for std_type, raw in cases:
            dist = HeteroscedasticGaussianDistribution(3, init_std=1.0, std_range=(0.2, 3.0), std_type=std_type)
            mlp_out = torch.tensor([[1.0, 2.0, 3.0, *raw]])
            mean, std = dist.params(mlp_out)
            assert torch.equal(mean, torch.tensor([[1.0, 2.0, 3.0]]))
            torch.testing.assert_close(std, torch.tensor([[0.2, 0.3, 3.0]]), rtol=1e-6, atol=0.0)

    def test_learn_std(self) -> None:
        assert not GaussianDistribution(A, learn_std=False).std_param.requires_grad
        assert not GaussianDistribution(A, std_type="log", learn_std=False).log_std_param.requires_grad
        assert GaussianDistribution(A).std_param.requires_grad

    def test_std_gradient_flows_to_parameter(self) -> None:
        dist = GaussianDistribution(2, init_std=0.8)
        params = dist.params(torch.zeros(3, 2))
        dist.entropy(params).sum().backward()
        # dH/dsigma = 1/sigma per row, 3 rows
        torch.testing.assert_close(dist.std_param.grad, torch.full((2,), 3.0 / 0.8))


class TestBetaMaths:
    """Beta log-prob (with the range Jacobian), entropy, KL, mean and std equal torch's Beta; samples stay in range."""

    def test_equals_torch_beta(self) -> None:
        low, high = -2.0, 1.0
        dist = BetaDistribution(A, action_range=(low, high))
        params, other = _beta_params(0), _beta_params(1)
        ref = Beta(*params)
        unit = torch.rand(B, A, generator=_gen(4)) * 0.98 + 0.01
        actions = unit * (high - low) + low
        log_scale = math.log(high - low)
        expected_log_prob = (ref.log_prob(unit) - log_scale).sum(-1)
        torch.testing.assert_close(dist.log_prob(params, actions), expected_log_prob, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dist.entropy(params), (ref.entropy() + log_scale).sum(-1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            dist.kl(params, other), kl_divergence(ref, Beta(*other)).sum(-1), rtol=1e-5, atol=1e-5
        )
        torch.testing.assert_close(dist.mode(params), ref.mean * (high - low) + low, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(dist.std(params), ref.stddev * (high - low), rtol=1e-5, atol=1e-6)

    def test_kl_of_identical_is_zero(self) -> None:
        dist = BetaDistribution(A)
        params = _beta_params(5)
        assert dist.kl(params, tuple(p.clone() for p in params)).abs().max() <= 1e-7

    def test_boundary_actions_have_finite_log_prob(self) -> None:
        dist = BetaDistribution(2)
        params = (torch.tensor([[3.0, 1.5]]), torch.tensor([[2.0, 6.0]]))
        for edge in (-1.0, 1.0, -1.5, 1.5):
            assert torch.isfinite(dist.log_prob(params, torch.full((1, 2), edge))).all()

    def test_params_from_mlp_output(self) -> None:
        dist = BetaDistribution(2)
        raw = torch.tensor([[0.0, 3.0, -3.0, 1.0]])
        alpha, beta = dist.params(raw)
        softplus = torch.nn.functional.softplus
        torch.testing.assert_close(alpha, softplus(torch.tensor([[0.0, 3.0]])) + 1.0)
        torch.testing.assert_close(beta, softplus(torch.tensor([[-3.0, 1.0]])) + 1.0)

    def test_samples_inside_range_with_correct_moments(self) -> None:
        torch.manual_seed(1)
        low, high = 0.5, 3.5
        dist = BetaDistribution(2, action_range=(low, high))
        params = (torch.tensor([[2.0, 5.0]]).expand(200_000, 2), torch.tensor([[3.0, 1.5]]).expand(200_000, 2))
        samples = dist.sample(params)
        assert samples.shape == (200_000, 2)
        assert bool(((samples >= low) & (samples <= high)).all())
        target_mean, target_std = dist.mode(params)[0], dist.std(params)[0]
        assert ((samples.mean(0) - target_mean).abs() <= 0.01 * target_mean).all()
        assert ((samples.std(0) - target_std).abs() <= 0.01 * target_std).all()


def _all_distributions() -> list[Distribution]:
    return [
        GaussianDistribution(A, init_std=0.7),
        GaussianDistribution(A, init_std=0.7, std_type="log"),
        HeteroscedasticGaussianDistribution(A, init_std=0.3),
        HeteroscedasticGaussianDistribution(A, init_std=0.3, std_type="log"),
        BetaDistribution(A, action_range=(-0.5, 2.0)),
    ]


class TestDeterministicOutputAndInit:
    """deterministic_output == mode(params(x)), scripts with TorchScript, and MLP init matches rsl_rl's layout."""

    @pytest.mark.parametrize("dist", _all_distributions(), ids=lambda d: f"{type(d).__name__}")
    def test_deterministic_output_equals_mode_and_scripts(self, dist: Distribution) -> None:
        x = torch.randn(B, dist.input_dim, generator=_gen(6)) * 3.0
        expected = dist.mode(dist.params(x))
        assert expected.shape == (B, A)
        torch.testing.assert_close(dist.deterministic_output(x), expected, rtol=0.0, atol=0.0)
        torch.testing.assert_close(torch.jit.script(dist)(x), expected, rtol=1e-6, atol=1e-6)

    @pytest.mark.parametrize("std_type", ["scalar", "log"])
    def test_heteroscedastic_init_gives_init_std_everywhere(self, std_type: StdType) -> None:
        dist = HeteroscedasticGaussianDistribution(A, init_std=0.37, std_type=std_type)
        mlp = MLP(11, dist.input_dim, [32, 32])
        dist.init_mlp_weights(mlp)
        x = torch.randn(B, 11, generator=_gen(7)) * 10.0
        mean, std = dist.params(mlp(x))
        torch.testing.assert_close(std, torch.full((B, A), 0.37), rtol=1e-6, atol=0.0)
        assert mean.std(0).min() > 0.0  # the mean half keeps its random weights

    def test_beta_init_zeroes_beta_half(self) -> None:
        dist = BetaDistribution(A)
        mlp = MLP(11, dist.input_dim, [32])
        dist.init_mlp_weights(mlp)
        _, beta = dist.params(mlp(torch.randn(B, 11, generator=_gen(8))))
        torch.testing.assert_close(beta, torch.full((B, A), 1.0 + math.log(2.0)), rtol=1e-6, atol=0.0)

    def test_init_rejects_wrong_output_size(self) -> None:
        with pytest.raises(ConfigError, match=f"expected {2 * A}"):
            HeteroscedasticGaussianDistribution(A).init_mlp_weights(MLP(4, A, [8]))


class TestRslRlCompatibility:
    """Parameter names equal rsl_rl's, and with the same weights both give the same params and log-probs."""

    @pytest.mark.parametrize("std_type", ["scalar", "log"])
    def test_gaussian(self, std_type: StdType) -> None:
        ours = GaussianDistribution(A, init_std=0.6, std_type=std_type)
        theirs = RslGaussian(A, init_std=0.6, std_type=std_type)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(B, A, generator=_gen(9))
        theirs.update(x)
        params = ours.params(x)
        for mine, ref in zip(params, theirs.params, strict=True):
            torch.testing.assert_close(mine, ref, rtol=1e-6, atol=1e-7)
        actions = torch.randn(B, A, generator=_gen(10))
        torch.testing.assert_close(ours.log_prob(params, actions), theirs.log_prob(actions), rtol=1e-5, atol=1e-5)

    def test_two_headed_layout(self) -> None:
        for ours, theirs in (
            (HeteroscedasticGaussianDistribution(A, std_type="log"), RslHeteroscedastic(A, std_type="log")),
            (BetaDistribution(A), RslBeta(A)),
        ):
            assert ours.input_dim == 2 * A
            assert list(ours.state_dict()) == list(theirs.state_dict()) == []
            mlp_out = torch.randn(B, 2 * A, generator=_gen(11))
            theirs.update(mlp_out.view(B, 2, A))
            for mine, ref in zip(ours.params(mlp_out), theirs.params, strict=True):
                torch.testing.assert_close(mine, ref, rtol=1e-6, atol=1e-7)


class TestValidation:
    """Out-of-range distribution arguments raise ConfigError naming the field."""

    @pytest.mark.parametrize(
        ("build", "field"),
        [
            (lambda: GaussianDistribution(A, std_range=(0.0, 1.0)), "std_range"),
            (lambda: GaussianDistribution(A, std_range=(-1.0, 1.0)), "std_range"),
            (lambda: GaussianDistribution(A, std_range=(2.0, 1.0)), "std_range"),
            (lambda: GaussianDistribution(A, std_range=(1.0, 1.0)), "std_range"),
            (lambda: GaussianDistribution(A, init_std=5.0, std_range=(0.1, 2.0)), "init_std"),
            (lambda: GaussianDistribution(A, init_std=-0.01, std_range=(0.1, 2.0)), "init_std"),
            (lambda: GaussianDistribution(A, std_type="exp"), "std_type"),  # type: ignore[arg-type]
            (lambda: GaussianDistribution(A, learn_std="yes"), "learn_std"),  # type: ignore[arg-type]
            (lambda: HeteroscedasticGaussianDistribution(A, std_range=(0.0, 1.0)), "std_range"),
            (lambda: HeteroscedasticGaussianDistribution(A, std_type="Log"), "std_type"),  # type: ignore[arg-type]
            (lambda: BetaDistribution(A, action_range=(1.0, -1.0)), "action_range"),
            (lambda: BetaDistribution(A, action_range=(0.0, 0.0)), "action_range"),
            (lambda: BetaDistribution(A, action_range=(0.0, math.inf)), "action_range"),
            (lambda: BetaDistribution(0), "output_dim"),
        ],
    )
    def test_rejects(self, build: object, field: str) -> None:
        with pytest.raises(ConfigError, match=field):
            build()  # type: ignore[operator]


class TestResolveDistribution:
    """resolve_distribution builds every accepted class_name form, never mutates the dict, and rejects typos."""

    def test_none(self) -> None:
        assert resolve_distribution(None, A) is None

    @pytest.mark.parametrize(
        ("class_name", "cls"),
        [
            ("GaussianDistribution", GaussianDistribution),
            ("HeteroscedasticGaussianDistribution", HeteroscedasticGaussianDistribution),
            ("BetaDistribution", BetaDistribution),
            ("stride.modules.distributions:BetaDistribution", BetaDistribution),
            ("stride.modules.distributions.GaussianDistribution", GaussianDistribution),
            ("rsl_rl.modules.distribution:HeteroscedasticGaussianDistribution", HeteroscedasticGaussianDistribution),
            ("rsl_rl.modules.GaussianDistribution", GaussianDistribution),
        ],
    )
    def test_class_name_forms(self, class_name: str, cls: type) -> None:
        dist = resolve_distribution({"class_name": class_name}, A)
        assert type(dist) is cls
        assert dist is not None
        assert dist.output_dim == A

    def test_kwargs_passed_and_dict_untouched(self) -> None:
        cfg = {"class_name": "GaussianDistribution", "init_std": 0.4, "std_range": [0.01, 3.0], "std_type": "log"}
        snapshot = copy.deepcopy(cfg)
        first = resolve_distribution(cfg, A)
        second = resolve_distribution(cfg, A)
        assert cfg == snapshot
        assert isinstance(first, GaussianDistribution)
        assert isinstance(second, GaussianDistribution)
        assert first.std_range == (0.01, 3.0)
        torch.testing.assert_close(first.params(torch.zeros(1, A))[1], torch.full((1, A), 0.4))

    def test_unknown_key_names_dotted_path_and_suggests(self) -> None:
        with pytest.raises(ConfigError, match=r"distribution_cfg\.init_sdt.*Did you mean 'init_std'"):
            resolve_distribution({"class_name": "GaussianDistribution", "init_sdt": 0.5}, A)
        with pytest.raises(ConfigError, match=r"distribution_cfg\.learn_std"):
            resolve_distribution({"class_name": "BetaDistribution", "learn_std": True}, A)
        with pytest.raises(ConfigError, match=r"distribution_cfg\.output_dim"):
            resolve_distribution({"class_name": "BetaDistribution", "output_dim": 3}, A)

    def test_bad_class_names(self) -> None:
        with pytest.raises(ConfigError, match="Did you mean 'GaussianDistribution'"):
            resolve_distribution({"class_name": "GausianDistribution"}, A)
        with pytest.raises(ConfigError, match="class_name"):
            resolve_distribution({"init_std": 1.0}, A)
        with pytest.raises(ConfigError, match="cannot be imported"):
            resolve_distribution({"class_name": "no_such_module_xyz:Thing"}, A)
        with pytest.raises(ConfigError, match="not a subclass"):
            resolve_distribution({"class_name": "torch.nn:Linear"}, A)
        with pytest.raises(ConfigError, match="init_std"):
            resolve_distribution({"class_name": "GaussianDistribution", "init_std": -1.0}, A)
