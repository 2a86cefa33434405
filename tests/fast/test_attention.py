"""attnlab.fast's attention kernel for CPU autocast equals the attention formula (and PyTorch's
kernel outside autocast), and the training loop hands it to every attention of a model."""

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from attnlab import GPT, GPTConfig, attention, causal_mask
from attnlab.fast.attention import cpu_autocast_attention, use_for_training


@pytest.mark.parametrize("causal", [True, False])
def test_under_cpu_autocast_attention_is_the_formula_in_bf16(causal):
    """Under CPU autocast a plain causal (or unmasked) attention is softmax(q·kᵀ/√D + M)·v in bf16
    kernels, not the CPU flash kernel (slow in bf16); with a mask it runs the fp32 kernel."""
    torch.manual_seed(3)
    q, k, v = (torch.randn(2, 4, 8, 16, requires_grad=True) for _ in range(3))
    mask = causal_mask(8) if causal else None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = cpu_autocast_attention(q, k, v, is_causal=causal)
    assert out.dtype == torch.bfloat16 and out.shape == (2, 4, 8, 16)
    assert_close(out.float(), attention(q, k, v, mask)[0], rtol=0.03, atol=0.03)  # bf16's 8-bit mantissa
    out.float().sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (q, k, v))
    padding = torch.ones(2, 1, 8, 8, dtype=torch.bool)
    padding[1, :, :, 5:] = False
    with torch.autocast("cpu", dtype=torch.bfloat16):
        masked = cpu_autocast_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), attn_mask=padding)
    assert masked.dtype == torch.float32  # the fp32 kernel on the upcast bf16 values, exactly
    assert torch.equal(masked, F.scaled_dot_product_attention(q.bfloat16().float(), k.bfloat16().float(),
                                                              v.bfloat16().float(), attn_mask=padding))
    plain = torch.randn(2, 4, 8, 8)  # outside autocast: F.scaled_dot_product_attention itself, bit for bit
    assert torch.equal(cpu_autocast_attention(plain, plain, plain, is_causal=True),
                       F.scaled_dot_product_attention(plain, plain, plain, is_causal=True))


def test_a_bf16_gpt_with_the_kernel_matches_fp32_and_the_reference_kernel():
    torch.manual_seed(4)
    model = GPT(GPTConfig(vocab_size=11, max_seq_len=16, d_model=32, n_heads=4, n_layers=2))
    idx = torch.randint(0, 11, (3, 16))
    reference, reference_loss = model(idx, idx)
    use_for_training(model)
    assert all(block.attn.sdpa is cpu_autocast_attention for block in model.blocks)
    assert torch.equal(model(idx)[0], reference)  # outside autocast: PyTorch's kernel, bit for bit
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = model(idx, idx)
    assert_close(logits.float(), reference, rtol=0.05, atol=0.05)
    assert abs(loss.item() - reference_loss.item()) < 0.02
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
