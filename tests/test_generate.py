"""Generation: the KV cache changes nothing but speed; sampling options do what they say."""

import pytest
import torch
from torch.testing import assert_close

from attnlab import GPT, GPTConfig
from attnlab.generate import filter_logits, generate_tokens, sample_next


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, max_seq_len=24, d_model=32, n_heads=4, n_layers=3)).eval()


def test_cached_logits_equal_uncached_at_every_step(model):
    idx = torch.randint(0, 50, (2, 20))
    caches = model.make_kv_caches(batch_size=2)
    with torch.no_grad():
        step_logits, _ = model(idx[:, :5], kv_caches=caches)  # the prompt fills the cache
        full, _ = model(idx)
        assert_close(step_logits, full[:, :5], atol=1e-5, rtol=0)
        for t in range(5, 20):
            step_logits, _ = model(idx[:, t:t + 1], kv_caches=caches)  # (B, 1, V)
            assert (step_logits[:, 0] - full[:, t]).abs().max().item() <= 1e-5
    assert caches[0].length == 20 and caches[0].k.shape == (2, 4, 24, 8)  # (B, H, T_max, D)


@pytest.mark.parametrize("options", [dict(), dict(temperature=0.7, top_k=10), dict(top_p=0.9)])
def test_cached_and_uncached_generate_the_same_tokens(model, options):
    prompt = torch.randint(0, 50, (3, 4))
    # 40 new tokens run past max_seq_len (24): the sliding window takes over halfway
    cached = model.generate(prompt, 40, generator=torch.Generator().manual_seed(7), **options)
    uncached = model.generate(prompt, 40, generator=torch.Generator().manual_seed(7), use_cache=False, **options)
    assert cached.shape == (3, 44)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached[:, :4], prompt)


def test_stream_yields_the_same_tokens_one_at_a_time(model):
    prompt = torch.tensor([[1, 2, 3]])
    tokens = list(generate_tokens(model, prompt, 10, generator=torch.Generator().manual_seed(3)))
    assert all(t.shape == (1, 1) for t in tokens)
    whole = model.generate(prompt, 10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.cat(tokens, dim=1), whole[:, 3:])


def test_greedy_forms_agree(model):
    prompt = torch.tensor([[5, 6]])
    greedy = model.generate(prompt, 12, temperature=0.0)
    assert torch.equal(greedy, model.generate(prompt, 12, top_k=1, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(greedy, model.generate(prompt, 12, top_p=1e-6, generator=torch.Generator().manual_seed(2)))
    # greedy really is the argmax of the uncached logits
    with torch.no_grad():
        logits, _ = model(greedy[:, :-1])
    assert torch.equal(logits.argmax(-1)[:, 1:], greedy[:, 2:])


def test_greedy_takes_the_first_of_tied_logits_as_argmax_does():
    logits = torch.tensor([[0.0, 3.0, 1.0, 3.0], [2.0, 2.0, 2.0, 2.0], [-1.0, -5.0, -1.0, 0.5]])
    assert sample_next(logits, temperature=0.0).view(-1).tolist() == logits.argmax(-1).tolist() == [1, 0, 3]


def test_generate_restores_training_mode(model):
    model.train()
    model.generate(torch.tensor([[1]]), 2, temperature=0.0)
    assert model.training
    model.eval()


def test_filter_logits():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    assert filter_logits(logits, top_k=2).isinf().tolist() == [[False, False, True, True]]
    probs = torch.softmax(logits, -1)[0]  # 0.644, 0.237, 0.087, 0.032
    # top_p keeps the smallest head of the distribution whose mass reaches top_p
    assert filter_logits(logits, top_p=0.5).isinf().tolist() == [[False, True, True, True]]
    assert filter_logits(logits, top_p=float(probs[:2].sum()) - 1e-4).isinf().tolist() == [[False, False, True, True]]
    assert filter_logits(logits, top_p=0.95).isinf().tolist() == [[False, False, False, True]]
    assert not filter_logits(logits, top_p=1.0).isinf().any()
    # unsorted input: the mask follows the values, not the positions
    assert filter_logits(torch.tensor([[0.0, 2.0, 1.0]]), top_k=1).isinf().tolist() == [[True, False, True]]


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([[1.0, 0.0]]).repeat(4000, 1)
    g = torch.Generator().manual_seed(0)
    share = lambda t: (sample_next(logits, temperature=t, generator=g) == 0).float().mean().item()
    # p(token 0) = sigmoid(1 / t): 0.73 at t=1, 0.98 at t=0.25, 0.55 at t=5
    assert abs(share(1.0) - 0.731) < 0.03
    assert share(0.25) > 0.96
    assert abs(share(5.0) - 0.550) < 0.03


def test_bad_sampling_arguments(model):
    with pytest.raises(ValueError, match="top_k"):
        filter_logits(torch.zeros(1, 3), top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        filter_logits(torch.zeros(1, 3), top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(torch.zeros(1, 3), temperature=-1)
    with pytest.raises(ValueError, match="prompt"):
        model.generate(torch.zeros(1, 0, dtype=torch.long), 3)


def test_a_huge_max_new_tokens_allocates_as_it_goes(model):
    """10**12 new tokens: nothing of that size is allocated; the first tokens are those of a
    short generation (the caches then hold the 24-position window at most)."""
    prompt = torch.randint(0, 50, (2, 3), generator=torch.Generator().manual_seed(1))
    short = model.generate(prompt, 30, generator=torch.Generator().manual_seed(7))
    stream = generate_tokens(model, prompt, 10**12, generator=torch.Generator().manual_seed(7))
    first = torch.cat([next(stream) for _ in range(30)], dim=1)  # (2, 30), past the window
    assert torch.equal(first, short[:, 3:])
    stream.close()


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -1e-9])
def test_non_finite_or_negative_temperature_is_refused(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        sample_next(torch.zeros(1, 3), temperature=temperature)


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e-40])
def test_a_temperature_that_underflows_is_greedy(temperature):
    logits = torch.tensor([[0.1, 0.30001, 0.3, -2.0], [5.0, 4.0, 4.99999, 0.0]])
    for seed in range(5):
        chosen = sample_next(logits, temperature=temperature, top_k=3, top_p=0.9,
                             generator=torch.Generator().manual_seed(seed))
        assert chosen.view(-1).tolist() == [1, 0]


def test_non_finite_logits_are_an_error_not_a_sample():
    with pytest.raises(ValueError, match="logits are not finite"):
        sample_next(torch.tensor([[0.0, float("nan")]]))


def test_streamed_text_is_the_decoded_text_however_long():
    """stream_sample decodes only a tail of ids; what it writes is still decode(all ids), with
    multi-byte characters split across tokens (Hangul in a byte-level BPE)."""
    from attnlab.generate import stream_sample
    from attnlab.tokenizers import build_tokenizer

    tokenizer = build_tokenizer("bpe", text="세계 안녕! hello world. " * 50, vocab_size=270)
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, max_seq_len=16, d_model=16, n_heads=2, n_layers=1))
    prompt = tokenizer.encode("세계")
    pieces: list[str] = []
    text = stream_sample(model, tokenizer, prompt, 200, pieces.append, temperature=1.5,
                         generator=torch.Generator().manual_seed(0))
    ids = model.generate(torch.tensor([prompt]), 200, temperature=1.5, generator=torch.Generator().manual_seed(0))
    assert text == "".join(pieces) == tokenizer.decode(ids[0, len(prompt):].tolist())
    assert len(pieces) > 50 and any("\ufffd" not in p and len(p.encode()) > len(p) for p in pieces)
