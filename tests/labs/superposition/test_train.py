"""attnlab.labs.superposition.train: instances train independently in the one batched model."""

from __future__ import annotations

import pytest
import torch

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.errors import UserError
from attnlab.labs.superposition.config import ToyConfig
from attnlab.labs.superposition.data import importance_weights, sparse_features
from attnlab.labs.superposition.model import ToyModel
from attnlab.labs.superposition.train import (evaluate, instance_probabilities, memory_bytes, train_toy,
                                              weighted_error)


def test_instances_train_independently():
    """Instance 1 alone, trained from the same start on the same samples, ends where it does in the batch."""
    cfg = ToyConfig(probabilities=(0.1,), instances=3, steps=30)
    together, probability, _ = train_toy(cfg)
    generator = torch.Generator().manual_seed(cfg.seed)  # as train_toy draws: the starts, then the batches
    start = ToyModel(3, cfg.features, cfg.dims, generator)
    alone = ToyModel(1, cfg.features, cfg.dims)
    with torch.no_grad():
        alone.W.copy_(start.W[1:2])
    optimizer = torch.optim.Adam(alone.parameters(), lr=cfg.lr)
    importance = importance_weights(cfg.features, cfg.importance)
    for _ in range(cfg.steps):
        x = sparse_features(probability, cfg.batch_size, cfg.features, generator)[1:2]  # instance 1's samples
        weighted_error(x, alone(x), importance).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.testing.assert_close(together.W[1], alone.W[0].detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(together.b[1], alone.b[0].detach(), atol=1e-5, rtol=0)


def test_instance_k_times_instances_plus_j_is_start_j_at_probability_k():
    cfg = ToyConfig(probabilities=(1.0, 0.25, 0.5), instances=2)
    assert instance_probabilities(cfg).tolist() == [1.0, 1.0, 0.25, 0.25, 0.5, 0.5]


def test_the_memory_bound_by_hand():
    cfg = ToyConfig(features=5, dims=2, probabilities=(1.0, 0.5), instances=3, batch_size=256)
    instances = 6
    weights = 4 * instances * 3 * 5  # W and b (dims + 1 rows), with gradients and Adam's two moments
    step = 8 * instances * 1024 * 5  # eight (I, B, n) tensors, B the larger of the batch and the eval chunk
    assert memory_bytes(cfg) == 4 * (weights + step)


def test_the_evaluation_is_each_instances_mean_error_over_every_chunk():
    model = ToyModel(2, 4, 2, torch.Generator().manual_seed(0))
    probability, importance = torch.tensor([1.0, 0.3]), torch.tensor([1.0, 0.5, 0.25, 0.125])
    got = evaluate(model, probability, importance, seed=3, samples=100, chunk=32)  # chunks of 32, 32, 32, 4
    x = torch.cat([sparse_features(probability, n, 4, g) for g in [torch.Generator().manual_seed(3)]
                   for n in (32, 32, 32, 4)], dim=1)  # the same draws, in the same order
    with torch.no_grad():
        want = (importance * (x - model(x)) ** 2).sum(-1).mean(-1)
    torch.testing.assert_close(got, want)


def test_a_sweep_too_large_for_the_memory_is_refused_before_it_is_built(monkeypatch):
    import attnlab.model.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 1000)
    with pytest.raises(UserError, match="training 8 toy models of 5 features needs"):
        train_toy(ToyConfig(probabilities=(1.0, 0.5), instances=4, steps=1))
