"""Tests for stride.algorithms.returns: GAE, time-out bootstrapping and advantage normalization (RELIABILITY R06)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from stride.algorithms.returns import bootstrap_time_outs, compute_gae, normalize_advantages


def _reference_gae(
    rewards: list[list[float]],
    values: list[list[float]],
    dones: list[list[bool]],
    last_values: list[float],
    gamma: float,
    lam: float,
) -> tuple[list[list[float]], list[list[float]]]:
    """Plain-Python GAE, one env at a time, written independently of the library."""
    num_steps, num_envs = len(rewards), len(rewards[0])
    advantages = [[0.0] * num_envs for _ in range(num_steps)]
    for n in range(num_envs):
        running = 0.0
        for t in range(num_steps - 1, -1, -1):
            next_value = last_values[n] if t == num_steps - 1 else values[t + 1][n]
            nonterminal = 0.0 if dones[t][n] else 1.0
            delta = rewards[t][n] + gamma * nonterminal * next_value - values[t][n]
            running = delta + gamma * lam * nonterminal * running
            advantages[t][n] = running
    returns = [[advantages[t][n] + values[t][n] for n in range(num_envs)] for t in range(num_steps)]
    return returns, advantages


def _random_layout(rng: random.Random, index: int) -> dict:
    num_steps, num_envs = rng.randint(1, 12), rng.randint(1, 6)
    # every fifth layout is all-done, the next one none-done, the rest Bernoulli(p) with a random p
    kind = index % 5
    p_done = 1.0 if kind == 0 else 0.0 if kind == 1 else rng.random()
    gamma = rng.choice([1.0, rng.uniform(0.5, 1.0)])
    lam = rng.choice([0.0, 1.0, rng.random()])
    return {
        "rewards": [[rng.gauss(0.0, 3.0) for _ in range(num_envs)] for _ in range(num_steps)],
        "values": [[rng.gauss(0.0, 10.0) for _ in range(num_envs)] for _ in range(num_steps)],
        "dones": [[rng.random() < p_done for _ in range(num_envs)] for _ in range(num_steps)],
        "last_values": [rng.gauss(0.0, 10.0) for _ in range(num_envs)],
        "gamma": gamma,
        "lam": lam,
    }


class TestComputeGaeMatchesReference:
    """compute_gae equals an independent plain-Python loop on 200 random layouts within 1e-6 (R06)."""

    def test_200_random_layouts(self) -> None:
        rng = random.Random(1234)
        kinds_seen = {"all_done": 0, "none_done": 0, "mixed": 0}
        worst = 0.0
        for index in range(200):
            lay = _random_layout(rng, index)
            dones = lay["dones"]
            flat = [d for row in dones for d in row]
            kinds_seen["all_done" if all(flat) else "none_done" if not any(flat) else "mixed"] += 1
            ref_returns, ref_adv = _reference_gae(**lay)
            dtype = torch.float64
            returns, adv = compute_gae(
                torch.tensor(lay["rewards"], dtype=dtype),
                torch.tensor(lay["values"], dtype=dtype),
                torch.tensor(dones, dtype=torch.bool),
                torch.tensor(lay["last_values"], dtype=dtype),
                lay["gamma"],
                lay["lam"],
            )
            err = max(
                (adv - torch.tensor(ref_adv, dtype=dtype)).abs().max().item(),
                (returns - torch.tensor(ref_returns, dtype=dtype)).abs().max().item(),
            )
            worst = max(worst, err)
            assert err <= 1e-6, f"layout {index}: max error {err} (T={len(dones)}, N={len(dones[0])})"
        assert worst <= 1e-6
        assert kinds_seen["all_done"] >= 40 and kinds_seen["none_done"] >= 40 and kinds_seen["mixed"] >= 80

    def test_float_and_bool_dones_agree(self) -> None:
        gen = torch.Generator().manual_seed(0)
        rewards, values = torch.randn(7, 5, generator=gen), torch.randn(7, 5, generator=gen)
        dones = torch.rand(7, 5, generator=gen) < 0.3
        last = torch.randn(5, generator=gen)
        r_bool, a_bool = compute_gae(rewards, values, dones, last, 0.97, 0.9)
        r_float, a_float = compute_gae(rewards, values, dones.float(), last, 0.97, 0.9)
        assert torch.equal(r_bool, r_float) and torch.equal(a_bool, a_float)
        assert dones.any() and not dones.all()

    def test_hand_computed_two_steps(self) -> None:
        # T=2, N=1, no done: δ1 = 1 + 0.5·4 − 2 = 1; δ0 = 0 + 0.5·2 − 1 = 0; A1 = 1; A0 = 0 + 0.5·0.5·1 = 0.25
        returns, adv = compute_gae(
            torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [2.0]]), torch.zeros(2, 1), torch.tensor([4.0]), 0.5, 0.5
        )
        torch.testing.assert_close(adv, torch.tensor([[0.25], [1.0]]), rtol=0, atol=1e-7)
        torch.testing.assert_close(returns, torch.tensor([[1.25], [3.0]]), rtol=0, atol=1e-7)


class TestTerminationCutsBootstrap:
    """A done at step t makes everything after t (values, rewards, last value) irrelevant to A_t and R_t."""

    def test_values_after_done_have_no_effect(self) -> None:
        gen = torch.Generator().manual_seed(3)
        rewards, values = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen)
        last = torch.randn(3, generator=gen)
        dones = torch.zeros(6, 3)
        dones[2, 0] = 1.0  # env 0 terminates at t=2; env 1 never; env 2 terminates at the last step
        dones[5, 2] = 1.0
        ret_a, adv_a = compute_gae(rewards, values, dones, last, 0.99, 0.95)
        # perturb everything after the done of env 0, and the bootstrap value of envs 1 and 2
        values_b, rewards_b, last_b = values.clone(), rewards.clone(), last.clone()
        values_b[3:, 0] += 100.0
        rewards_b[3:, 0] -= 50.0
        last_b += 1000.0
        ret_b, adv_b = compute_gae(rewards_b, values_b, dones, last_b, 0.99, 0.95)
        assert torch.equal(adv_a[:3, 0], adv_b[:3, 0]) and torch.equal(ret_a[:3, 0], ret_b[:3, 0])
        assert torch.equal(adv_a[:, 2], adv_b[:, 2]) and torch.equal(ret_a[:, 2], ret_b[:, 2])
        # the env that never ended does see the new bootstrap value: γ^(6)·λ^(5)·1000 at t=0
        expected_shift = 0.99**6 * 0.95**5 * 1000.0
        assert (adv_b[0, 1] - adv_a[0, 1]).item() == pytest.approx(expected_shift, rel=1e-4)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_non_finite_masked_next_value_stays_masked(self, bad: float) -> None:
        rewards, values = torch.ones(3, 2), torch.zeros(3, 2)
        dones = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
        returns, adv = compute_gae(rewards, values, dones, torch.tensor([bad, 0.0]), 0.9, 0.95)
        assert torch.isfinite(adv).all() and torch.isfinite(returns).all()


class TestTimeOutBootstrap:
    """bootstrap_time_outs adds exactly γ·V on truncated envs and nothing elsewhere; truncation then bootstraps."""

    @pytest.mark.parametrize("as_bool", [True, False])
    def test_adds_gamma_times_value(self, as_bool: bool) -> None:
        gen = torch.Generator().manual_seed(5)
        rewards = torch.randn(8, generator=gen, dtype=torch.float64)
        values = torch.randn(8, generator=gen, dtype=torch.float64) * 10.0
        mask = torch.tensor([0, 1, 0, 0, 1, 1, 0, 0], dtype=torch.bool)
        time_outs = mask if as_bool else mask.double()
        out = bootstrap_time_outs(rewards, time_outs, values, 0.97)
        torch.testing.assert_close(out[mask] - rewards[mask], 0.97 * values[mask], rtol=0, atol=1e-12)
        assert torch.equal(out[~mask], rewards[~mask])
        assert out.dtype == rewards.dtype

    def test_truncation_bootstraps_through_gae(self) -> None:
        # one step, truncated: A = (r + γ·V_final) − V(s) ; the done still cuts last_values
        gamma, v_final, v_s, r = 0.9, 7.0, 2.0, 1.0
        rewards = bootstrap_time_outs(torch.tensor([r]), torch.tensor([True]), torch.tensor([v_final]), gamma)
        returns, adv = compute_gae(
            rewards.view(1, 1), torch.tensor([[v_s]]), torch.ones(1, 1), torch.tensor([123.0]), gamma, 0.95
        )
        assert adv.item() == pytest.approx(r + gamma * v_final - v_s, abs=1e-6)
        assert returns.item() == pytest.approx(r + gamma * v_final, abs=1e-6)

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_never_terminating_task_value_fixed_point(self, seed: int) -> None:
        """R06 figure: reward 1 forever, time limit H; a state-blind critic fitted to GAE returns converges to
        1/(1−γ) with time-out bootstrapping (|V − 10| < 1 for γ = 0.9) and not without (3/3 seeds)."""
        gamma, lam, horizon, num_envs, num_steps = 0.9, 0.95, 12, 8, 24
        gen = torch.Generator().manual_seed(seed)
        start = torch.randint(0, horizon, (num_envs,), generator=gen)
        # episode step index of every (t, n); a time-out happens when it reaches the horizon
        ep_len = (start.view(1, -1) + torch.arange(num_steps).view(-1, 1)) % horizon + 1
        time_outs = ep_len == horizon
        target = 1.0 / (1.0 - gamma)
        fitted = {}
        for handle in (True, False):
            v = 0.0
            for _ in range(80):
                values = torch.full((num_steps, num_envs), v, dtype=torch.float64)
                rewards = torch.ones(num_steps, num_envs, dtype=torch.float64)
                if handle:
                    # V(final obs) = v for a state-blind critic
                    rewards = bootstrap_time_outs(rewards, time_outs, values, gamma)
                returns, _ = compute_gae(rewards, values, time_outs, values[-1], gamma, lam)
                v = returns.mean().item()
            fitted[handle] = v
        assert abs(fitted[True] - target) < 1.0, fitted
        assert abs(fitted[False] - target) > 1.0, fitted


class TestNormalizeAdvantages:
    """normalize_advantages gives mean 0 / std 1, stays finite for one sample and constant inputs, copies."""

    def test_mean_zero_std_one(self) -> None:
        gen = torch.Generator().manual_seed(9)
        adv = torch.randn(32, 16, generator=gen, dtype=torch.float64) * 7.0 + 3.0
        before = adv.clone()
        out = normalize_advantages(adv)
        assert abs(out.mean().item()) < 1e-9
        assert out.std().item() == pytest.approx(1.0, abs=1e-6)
        assert out.shape == adv.shape
        assert torch.equal(adv, before)

    def test_single_sample_is_finite(self) -> None:
        out = normalize_advantages(torch.tensor([5.0]))
        assert torch.isfinite(out).all()
        assert out.item() == 0.0

    def test_constant_advantages_are_finite(self) -> None:
        out = normalize_advantages(torch.full((10,), 4.0))
        assert torch.isfinite(out).all()
        assert out.abs().max().item() == 0.0

    def test_two_samples_map_to_plus_minus(self) -> None:
        out = normalize_advantages(torch.tensor([1.0, 3.0], dtype=torch.float64))
        # sample std of {1, 3} is √2 → ±1/√2
        torch.testing.assert_close(
            out, torch.tensor([-1.0, 1.0], dtype=torch.float64) / math.sqrt(2.0), rtol=0, atol=1e-7
        )
