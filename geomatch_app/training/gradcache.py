"""Gradient caching (paper D, Algorithm 1): a large batch whose loss couples every item (ranking
loss over tuples, MK-MMD over the whole batch) trained in chunks that fit a small GPU.

1. forward every chunk without a graph and keep only the descriptors;
2. compute the loss on the concatenated descriptors and its gradient w.r.t. them;
3. forward each chunk again, this time with a graph, and back-propagate its slice of that
   gradient. Parameter gradients equal those of one big forward/backward, for 1.5× the compute.

Step 3 needs the second forward to equal the first, so the model must be deterministic
(eval-mode BatchNorm, no dropout / drop-connect); the trainer runs it that way.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


def forward_backward(forward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                     loss_fn: LossFn, chunk: int = 0,
                     autocast: Callable[[], AbstractContextManager] = nullcontext,
                     check: Callable[[], None] = lambda: None) -> tuple[float, dict[str, float]]:
    """Accumulate parameter gradients of ``loss_fn(forward(images))``; returns (loss, terms).

    ``chunk`` ≤ 0 or ≥ len(images): one plain forward/backward. ``check`` runs before every
    chunk so a cancel request is seen quickly.
    """
    n = len(images)
    if chunk <= 0 or chunk >= n:
        check()
        with autocast():
            out = forward(images)
        loss, terms = loss_fn(out.float())
        loss.backward()
        return float(loss.detach()), terms
    outs = []
    with torch.no_grad():
        for i in range(0, n, chunk):
            check()
            with autocast():
                outs.append(forward(images[i:i + chunk]).float())
    cached = torch.cat(outs).detach().requires_grad_(True)
    loss, terms = loss_fn(cached)
    loss.backward()
    grad = cached.grad
    for i in range(0, n, chunk):
        check()
        with autocast():
            out = forward(images[i:i + chunk]).float()
        out.backward(grad[i:i + chunk])
    return float(loss.detach()), terms
