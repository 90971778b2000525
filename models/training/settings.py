"""Training settings and the mapping of dataset classes to model class slots (stdlib only).

A fine-tuned model keeps its base model's output layout: the same number of classes in the same
order, so that every adapter and config that decodes the base decodes it. A dataset class the base
model already has (``person``) trains that slot; one it does not have (``ebike``) takes over the
slot of a related class (``motorbike`` by default), which is then renamed in the new model's
``names`` metadata. The other slots keep the base model's behaviour through distillation.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

# Dataset class -> base class whose slot it takes over, when the base has no class of that name.
DEFAULT_REPURPOSE: Mapping[str, str] = {"ebike": "motorbike", "e-bike": "motorbike"}


class ClassMappingError(ValueError):
    """A dataset class has no slot in the base model (the message says how to give one)."""


@dataclass(frozen=True, slots=True)
class SlotMap:
    """Where each dataset class trains, and the new model's class names.

    Attributes:
        slots: model class index of each dataset class, in dataset order (-1: a class with no
            box to train, which needs no slot).
        names: the new model's class names (the base names with repurposed slots renamed).
        repurposed: base class name -> dataset class name that replaced it.
        untrained: dataset classes with no box to train (not mapped).
    """

    slots: tuple[int, ...]
    names: tuple[str, ...]
    repurposed: dict[str, str] = field(default_factory=dict)
    untrained: tuple[str, ...] = ()


def map_slots(
    dataset_names: Sequence[str],
    base_names: Sequence[str],
    repurpose: Mapping[str, str] | None = None,
    untrained: Collection[str] = (),
) -> SlotMap:
    """Map dataset classes to the base model's slots by name.

    Args:
        dataset_names: the dataset's classes (data.yaml ``names``).
        base_names: the base model's classes in index order.
        repurpose: dataset class -> base class whose slot it takes (default
            :data:`DEFAULT_REPURPOSE` for names the base lacks).
        untrained: dataset classes without a single box in the train split: they train
            nothing, so they need no slot (``dataset export`` lists every class the review page
            offers, ``vehicle`` and ``clutter`` too, whether or not a box of it was drawn).

    Raises:
        ClassMappingError: a dataset class is neither a base class nor given a slot, the slot
            to take over does not exist, or two dataset classes would share one slot.
    """
    table = dict(DEFAULT_REPURPOSE)
    table.update(repurpose or {})
    index = {name: i for i, name in enumerate(base_names)}
    names = list(base_names)
    slots: list[int] = []
    repurposed: dict[str, str] = {}
    skipped = [name for name in dataset_names if name in untrained]
    for name in dataset_names:
        if name in untrained:
            slots.append(-1)
            continue
        if name in index and name not in (repurpose or {}):
            slots.append(index[name])
            continue
        target = table.get(name)
        if target is None:
            raise ClassMappingError(
                f"dataset class {name!r} is not a class of the base model and has no slot: give "
                f"one with --repurpose {name}=BASE_CLASS (base classes: {', '.join(base_names)})"
            )
        if target not in index:
            raise ClassMappingError(
                f"--repurpose {name}={target}: the base model has no class {target!r}"
            )
        slots.append(index[target])
        names[index[target]] = name
        repurposed[target] = name
    mapped = [slot for slot in slots if slot >= 0]
    if len(set(mapped)) != len(mapped):
        raise ClassMappingError(f"dataset classes {list(dataset_names)} share a model slot")
    if len(set(names)) != len(names):
        raise ClassMappingError(f"the new class names repeat a name: {names}")
    return SlotMap(tuple(slots), tuple(names), repurposed, tuple(skipped))


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """How to fine-tune (``models train`` options; defaults are the shipped lift model's).

    Attributes:
        steps: optimiser steps (wins over ``epochs`` when both are given).
        epochs: passes over the train split, turned into steps with ``batch``.
        freeze: fraction of the parameters (in graph order, by count of weights) kept frozen.
        imgsz: square training and export input size.
        batch: images per step.
        seed: seed of sampling, augmentation and torch.
        lr: peak learning rate (AdamW, cosine decay after a short warm-up).
        distill: weight of the distillation of the base model's outputs on unassigned anchors.
        workers: torch threads.
        time_budget_s: stop after this many seconds of training even if steps remain; the
            learning-rate schedule follows whichever of steps and time runs out first, so a
            slower machine trains fewer steps but still ends on a decayed rate.
        negative_repeat: times per epoch an image with no box of a repurposed class (a hard
            negative) is drawn.
        ema: decay of the moving average of the weights that is exported (0: the last
            step's weights; models/training/ema.py).
    """

    steps: int | None = None
    epochs: float | None = None
    freeze: float = 0.6
    imgsz: int = 416
    batch: int = 8
    seed: int = 0
    lr: float = 1e-3
    distill: float = 1.0
    workers: int = 2
    time_budget_s: float | None = None
    negative_repeat: int = 1
    ema: float = 0.0

    def total_steps(self, train_images: int) -> int:
        if self.steps is not None:
            return max(int(self.steps), 1)
        epochs = self.epochs if self.epochs is not None else 30.0
        return max(round(epochs * train_images / self.batch), 1)
