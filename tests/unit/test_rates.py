"""LayerRates: discriminative rates and the slanted triangular schedule as scaled updates of the loop's one Adam."""

import pytest
import torch
from torch import nn

from rnnlab.params import ConfigError, from_dict
from rnnlab.training.finetune import slanted_triangular
from rnnlab.training.rates import LayerRates, RatesConfig, steps_per_epoch

LR, DECAY, TOTAL = 0.01, 2.0, 12


def model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))


def groups(net):
    return [net[0], net[2], net[4]]  # bottom to top


def step(net, optimizer, i):
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(i))
    optimizer.zero_grad()
    net(x).pow(2).sum().backward()
    optimizer.step()


def reference(steps, weight_decay):
    """torch's own way: one parameter group per layer group, every group's rate set before each step."""
    net = model()
    factors = [DECAY ** -2, DECAY ** -1, 1.0]
    optimizer = torch.optim.Adam([{"params": g.parameters()} for g in groups(net)], lr=LR, weight_decay=weight_decay)
    for i in range(steps):
        for group, factor in zip(optimizer.param_groups, factors, strict=True):
            group["lr"] = LR * factor * slanted_triangular(i, TOTAL, 0.25, 8.0)
        step(net, optimizer, i)
    return net


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_scaled_updates_are_adams_steps_at_each_groups_rate(weight_decay):
    net = model()
    optimizer = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=weight_decay)
    with LayerRates(groups(net), DECAY, TOTAL, "slanted_triangular", 0.25, 8.0):
        for i in range(10):
            step(net, optimizer, i)
    expected = reference(10, weight_decay)
    for got, want in zip(net.parameters(), expected.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    plain = model()
    plain_optimizer = torch.optim.Adam(plain.parameters(), lr=LR, weight_decay=weight_decay)
    for i in range(10):
        step(plain, plain_optimizer, i)
    assert not torch.allclose(plain[0].weight, net[0].weight)  # the scaling did change the steps


def test_a_resumed_optimizer_continues_the_schedule_where_it_stopped():
    net = model()
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    with LayerRates(groups(net), DECAY, TOTAL, "slanted_triangular", 0.25, 8.0):
        for i in range(4):
            step(net, optimizer, i)
    saved = {k: v.clone() for k, v in net.state_dict().items()}, optimizer.state_dict()
    resumed = model(seed=1)
    resumed.load_state_dict(saved[0])
    again = torch.optim.Adam(resumed.parameters(), lr=LR)
    again.load_state_dict(saved[1])  # its step count: the schedule's position
    with LayerRates(groups(resumed), DECAY, TOTAL, "slanted_triangular", 0.25, 8.0):
        for i in range(4, 10):
            step(resumed, again, i)
    for got, want in zip(resumed.parameters(), reference(10, 0.0).parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_other_optimizers_and_frozen_groups_are_left_alone_and_leaving_removes_the_hooks():
    net, other = model(), model()
    net[0].weight.requires_grad_(False)
    frozen = net[0].weight.clone()
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    other_optimizer = torch.optim.Adam(other.parameters(), lr=LR)
    plain = model()
    plain_optimizer = torch.optim.Adam(plain.parameters(), lr=LR)
    with LayerRates(groups(net), DECAY, TOTAL):
        step(net, optimizer, 0)
        step(other, other_optimizer, 0)  # not the optimizer of `groups`: a plain Adam step
    step(other, other_optimizer, 1)
    for i in range(2):
        step(plain, plain_optimizer, i)
    assert torch.equal(net[0].weight, frozen)
    for got, want in zip(other.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(got, want)


def test_a_constant_schedule_with_decay_one_is_plain_adam():
    net, plain = model(), model()
    optimizer, plain_optimizer = torch.optim.Adam(net.parameters(), lr=LR), torch.optim.Adam(plain.parameters(), lr=LR)
    with LayerRates(groups(net), 1.0, TOTAL, "constant"):
        for i in range(3):
            step(net, optimizer, i)
    for i in range(3):
        step(plain, plain_optimizer, i)
    for got, want in zip(net.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(got, want)


def test_bad_settings_are_refused_with_the_key():
    good = {"label": "x", "lr": 0.002, "decay": 2.6, "schedule": "slanted_triangular", "cut_frac": 0.1, "ratio": 32}
    assert from_dict(RatesConfig, good, "lm.rates").decay == 2.6
    with pytest.raises(ConfigError, match="decay"):
        from_dict(RatesConfig, {**good, "decay": 0.5}, "lm.rates")
    with pytest.raises(ConfigError, match="schedule"):
        from_dict(RatesConfig, {**good, "schedule": "cosine"}, "lm.rates")
    with pytest.raises(ValueError, match="cut_frac"):
        LayerRates(groups(model()), 2.6, 0)


def test_an_epoch_is_counted_as_the_objective_draws_it():
    lengths = torch.tensor([3] * 50 + [30] * 10)
    assert steps_per_epoch(lengths, 10, bucketed=False, seed=1) == 6
    # bucketed: a batch holds about 10 * 7.5 tokens: the 50 short texts in 2 batches (at most 40 each), the
    # 10 long ones two by two in 5
    assert steps_per_epoch(lengths, 10, bucketed=True, seed=1) == 7
