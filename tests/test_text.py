"""The text path of conversation datasets: context in the encoder input, length-bucketed encoding, pooling over the
utterance's own tokens, and the per-step warm-up schedule used to fine-tune the encoder."""

import math

import pytest
import torch

from mmer.data.dialogue import with_context
from mmer.model.backbones.text import TextEncoder
from mmer.model.schedules import warmup_cosine

CLS, SEP = 101, 102
DIALOGUE = [[1, 2], [3, 4, 5], [6], [7, 8]]


def test_utterance_alone_is_cls_tokens_sep():
    assert with_context(DIALOGUE, 1, 0, 0, 64, CLS, SEP) == [CLS, 3, 4, 5, SEP]
    assert with_context(DIALOGUE, 1, 0, 0, 4, CLS, SEP) == [CLS, 3, 4, SEP]  # cut to max_tokens


def test_context_layout_past_then_future():
    assert with_context(DIALOGUE, 1, 1, 1, 64, CLS, SEP) == [CLS, 3, 4, 5, SEP, 1, 2, SEP, 6, SEP]
    assert with_context(DIALOGUE, 0, 2, 0, 64, CLS, SEP) == [CLS, 1, 2, SEP, SEP, SEP]  # nothing before the first
    assert with_context(DIALOGUE, 3, 2, 1, 64, CLS, SEP) == [CLS, 7, 8, SEP, 3, 4, 5, 6, SEP, SEP]


def test_context_is_cut_before_the_utterance_oldest_past_and_farthest_future_first():
    # room for 4 context tokens, 2 each: the past keeps its newest, the future its nearest
    assert with_context(DIALOGUE, 2, 2, 1, 9, CLS, SEP) == [CLS, 6, SEP, 4, 5, SEP, 7, 8, SEP]
    # a side that needs less leaves its room to the other
    assert with_context(DIALOGUE, 2, 2, 0, 9, CLS, SEP) == [CLS, 6, SEP, 2, 3, 4, 5, SEP, SEP]
    assert len(with_context(DIALOGUE, 1, 3, 3, 5, CLS, SEP)) == 5
    assert with_context(DIALOGUE, 1, 3, 3, 5, CLS, SEP)[:5] == [CLS, 3, 4, 5, SEP]  # the utterance is never cut


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder(24, bucket=3).eval()


def dialogues(seed=0, b=2, t=5, length=24):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(b, t, length, dtype=torch.long)
    for i in range(b):
        for j in range(t):
            n = int(torch.randint(1, 20, (1,), generator=g))
            x[i, j, 0], x[i, j, n + 1] = CLS, SEP
            x[i, j, 1:n + 1] = torch.randint(1000, 9000, (n,), generator=g)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, 3:] = False
    return x, mask


def test_bucketed_encoding_equals_one_padded_call(encoder):
    x, mask = dialogues()
    bucketed = encoder(x, mask)
    encoder.bucket = 0
    try:
        whole = encoder(x, mask)
    finally:
        encoder.bucket = 3
    torch.testing.assert_close(bucketed, whole, atol=2e-5, rtol=1e-4)
    assert bucketed[1, 3:].abs().max() == 0  # absent utterances are 0
    assert bucketed[mask].abs().min() > 0


def test_mean_pool_covers_the_utterance_not_its_context(encoder):
    row = torch.tensor([[CLS, 2000, 2001, SEP, 3000, 3001, 3002, SEP, 0, 0]])
    got = encoder.encode(row)
    hidden = encoder.encoder(input_ids=row[:, :8], attention_mask=torch.ones(1, 8, dtype=torch.long)).last_hidden_state
    torch.testing.assert_close(got, hidden[:, :4].mean(1), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(got, hidden.mean(1), atol=1e-3)
    # the context changes the utterance's embedding through attention
    alone = encoder.encode(torch.tensor([[CLS, 2000, 2001, SEP]]))
    assert not torch.allclose(got, alone, atol=1e-3)


def test_warmup_cosine_rises_then_decays_per_group():
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": [params[0]], "lr": 1.0}, {"params": [params[1]], "lr": 0.1}])
    sched = warmup_cosine(opt, total_steps=100, warmup=0.1)
    assert sched.interval == "step"
    lrs = []
    for _ in range(100):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert lrs[0][0] == pytest.approx(0.1) and lrs[9][0] == pytest.approx(1.0)
    assert lrs[9][1] == pytest.approx(0.1)  # each group keeps its own base rate
    assert all(a[0] >= b[0] for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[55][0] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert lrs[-1][0] < 0.001
    with pytest.raises(ValueError, match="warmup"):
        warmup_cosine(opt, total_steps=10, warmup=1.0)


def test_frozen_encoder_encodes_each_distinct_utterance_once(monkeypatch):
    frozen = TextEncoder(24, freeze=True).eval()  # eval: the dropout on the pooled vectors is off for comparisons
    x, mask = dialogues(seed=1)
    calls = []
    original = frozen.encode
    monkeypatch.setattr(frozen, "encode", lambda ids: calls.append(len(ids)) or original(ids))
    first = frozen(x, mask)
    assert sum(calls) == int(mask.sum())
    second = frozen(x, mask)  # the next epoch: served from the cache
    assert sum(calls) == int(mask.sum())
    torch.testing.assert_close(first, second)
    frozen.bucket = 0
    calls.clear()
    frozen._memo.clear()
    torch.testing.assert_close(frozen(x, mask), first, atol=2e-5, rtol=1e-4)  # the cache changes nothing
    assert not any(p.requires_grad for p in frozen.encoder.parameters())


def test_warmup_cosine_equals_transformers_after_the_warm_up_and_differs_only_in_it():
    """Ours is transformers' schedule except during the warm-up ((s + 1) / w instead of s / w, whose first step
    has a learning rate of 0): the reason we keep our own (docs/reference/definitions.md)."""
    from transformers import get_cosine_schedule_with_warmup

    def rates(make):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = make(opt)
        out = []
        for _ in range(100):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    ours = rates(lambda o: warmup_cosine(o, total_steps=100, warmup=0.1))
    theirs = rates(lambda o: get_cosine_schedule_with_warmup(o, num_warmup_steps=10, num_training_steps=100))
    assert ours[10:] == pytest.approx(theirs[10:], abs=1e-12)
    assert theirs[0] == 0.0 and ours[0] == pytest.approx(0.1)
    assert ours[:9] == pytest.approx(theirs[1:10])  # the same ramp, one step earlier
