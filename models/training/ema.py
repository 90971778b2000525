"""An exponential moving average of the weights being trained (YOLOX's ``ModelEMA``).

The last optimiser step of a short fine-tune on a few dozen images is one noisy sample of the
weights; the average of the last few hundred steps is a steadier model to export. The decay
ramps up as ``(1 + t) / (10 + t)`` (so early, still poor weights are soon forgotten) and is capped
at ``decay``. Frozen parameters are the same in both copies; buffers are copied as they are.
"""

from __future__ import annotations

import copy

import torch


class WeightAverage:
    """A shadow copy of ``module`` whose trainable parameters follow it by an EMA.

    Args:
        module: the module being trained.
        decay: the most weight kept from the average at each update, in (0, 1).
    """

    def __init__(self, module: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay {decay} must be in (0, 1)")
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(module).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        t = self.updates + 1
        return min(self.decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        """Fold ``module``'s current weights into the average (call after each step)."""
        keep = self.current_decay()
        self.updates += 1
        for average, live in zip(self.module.parameters(), module.parameters(), strict=True):
            if live.requires_grad:
                average.mul_(keep).add_(live.detach(), alpha=1.0 - keep)
        for average, live in zip(self.module.buffers(), module.buffers(), strict=True):
            average.copy_(live)
