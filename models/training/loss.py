"""YOLOX-style loss with a light SimOTA assignment and distillation from the base model.

Assignment (per image, YOLOX's SimOTA without its IoU-aware class target): an anchor is a
candidate for a ground-truth box when its cell centre lies in the box or within 2.5 strides of the
box centre; its cost is the class cost plus 3 x (-log IoU of its decoded box), with a large
penalty unless it is both in the box and near the centre; each box takes its ``k`` cheapest
candidates, ``k`` = the sum of its 10 best IoUs (at least 1), and an anchor claimed by two boxes
goes to the cheaper.

Losses, normalised by the number of positive anchors:

- positives: 5 x (1 - GIoU) of the decoded box, BCE objectness -> 1, BCE classes -> one-hot;
- every other anchor (anti-forgetting, instead of replaying COCO): objectness -> the frozen base
  model's probability; where the base sees something (obj > 0.05) its class probabilities too,
  and its box (L1 on the raw box outputs, where obj > 0.3). The slots the dataset trains
  *exhaustively* (``negative_slots``: the e-bike slot) get 0 instead of the base's value: an
  unlabelled e-bike-slot response is a false alarm to unlearn, while a person the dataset did not
  label keeps whatever the base model said.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

CENTRE_RADIUS = 2.5
TOP_IOU_CANDIDATES = 10


@dataclass(frozen=True, slots=True)
class LossParts:
    """The loss and its parts (for the progress bar)."""

    total: torch.Tensor
    box: float
    obj: float
    cls: float
    distill: float
    positives: int


def decode_boxes(raw: torch.Tensor, grids: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """(..., N, >=4) raw box outputs -> (..., N, 4) xyxy canvas pixels."""
    cxcy = (raw[..., :2] + grids) * strides[:, None]
    wh = torch.exp(raw[..., 2:4].clamp(max=10.0)) * strides[:, None]
    return torch.cat([cxcy - wh / 2, cxcy + wh / 2], dim=-1)


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``a`` (m, 4) with every box of ``b`` (n, 4), xyxy."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - GIoU of matched (n, 4) xyxy boxes."""
    lt = torch.maximum(pred[:, :2], target[:, :2])
    rb = torch.minimum(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_p = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(dim=1)
    area_t = (target[:, 2:] - target[:, :2]).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter + 1e-9
    iou = inter / union
    hull = torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])
    hull_area = hull.clamp(min=0).prod(dim=1) + 1e-9
    return 1 - (iou - (hull_area - union) / hull_area)


@torch.no_grad()
def assign(
    pred_boxes: torch.Tensor,
    obj_logit: torch.Tensor,
    cls_logit: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_slots: torch.Tensor,
    grids: torch.Tensor,
    strides: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SimOTA-lite for one image.

    Returns:
        (positive mask (N,), index of the matched box per anchor (N,), -1 where none).
    """
    n = pred_boxes.shape[0]
    matched = torch.full((n,), -1, dtype=torch.long)
    if gt_boxes.shape[0] == 0:
        return matched >= 0, matched
    centres = (grids + 0.5) * strides[:, None]  # (N, 2)
    x, y = centres[:, 0][None], centres[:, 1][None]
    in_box = (
        (x > gt_boxes[:, 0:1])
        & (x < gt_boxes[:, 2:3])
        & (y > gt_boxes[:, 1:2])
        & (y < gt_boxes[:, 3:4])
    )
    gt_c = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
    radius = CENTRE_RADIUS * strides[None]
    in_centre = ((x - gt_c[:, 0:1]).abs() < radius) & ((y - gt_c[:, 1:2]).abs() < radius)
    candidate = in_box | in_centre  # (m, N)
    iou = pairwise_iou(gt_boxes, pred_boxes)  # (m, N)
    prob = (torch.sigmoid(cls_logit[:, gt_slots]).T * torch.sigmoid(obj_logit)[None]).sqrt()
    cost = (
        -torch.log(prob.clamp(min=1e-8))
        + 3.0 * -torch.log(iou.clamp(min=1e-8))
        + 1e5 * (~(in_box & in_centre)).float()
        + 1e9 * (~candidate).float()
    )
    matching = torch.zeros_like(cost, dtype=torch.bool)
    masked_iou = torch.where(candidate, iou, torch.zeros_like(iou))
    top = torch.topk(masked_iou, min(TOP_IOU_CANDIDATES, n), dim=1).values
    ks = top.sum(dim=1).int().clamp(min=1)
    for g in range(gt_boxes.shape[0]):
        k = int(min(int(ks[g]), int(candidate[g].sum().item()) or 1))
        idx = torch.topk(cost[g], k, largest=False).indices
        matching[g, idx] = True
    matching &= candidate
    claimed = matching.sum(dim=0)
    if (claimed > 1).any():
        cheapest = cost.argmin(dim=0)
        multi = claimed > 1
        matching[:, multi] = False
        matching[cheapest[multi], multi.nonzero().squeeze(1)] = True
    positive = matching.any(dim=0)
    matched[positive] = matching[:, positive].float().argmax(dim=0)
    return positive, matched


def yolox_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    targets: list[tuple[torch.Tensor, torch.Tensor]],
    grids: torch.Tensor,
    strides: torch.Tensor,
    negative_slots: torch.Tensor,
    distill_weight: float = 1.0,
) -> LossParts:
    """The batch loss.

    Args:
        student: (B, N, 5 + C) raw outputs (box, obj logit, class logits) being trained.
        teacher: the same from the frozen base model.
        targets: per image, (m, 4) xyxy canvas boxes and (m,) model class slots.
        grids, strides: (N, 2) cell coordinates and (N,) strides, in output order.
        negative_slots: class slots labelled exhaustively (0 target where unassigned).
        distill_weight: weight of the distillation terms.
    """
    batch = student.shape[0]
    pred_boxes = decode_boxes(student, grids, strides)
    t_obj = torch.sigmoid(teacher[..., 4])
    t_cls = torch.sigmoid(teacher[..., 5:])
    t_cls[..., negative_slots] = 0.0
    obj_target = t_obj.clone()
    box_terms, cls_terms, distill_terms = [], [], []
    positives = 0
    for b in range(batch):
        gt_boxes, gt_slots = targets[b]
        positive, matched = assign(
            pred_boxes[b].detach(),
            student[b, :, 4].detach(),
            student[b, :, 5:].detach(),
            gt_boxes,
            gt_slots,
            grids,
            strides,
        )
        npos = int(positive.sum())
        positives += npos
        obj_target[b, positive] = 1.0
        if npos:
            box_terms.append(giou_loss(pred_boxes[b, positive], gt_boxes[matched[positive]]))
            one_hot = torch.zeros_like(student[b, positive, 5:])
            one_hot[torch.arange(npos), gt_slots[matched[positive]]] = 1.0
            cls_terms.append(
                F.binary_cross_entropy_with_logits(
                    student[b, positive, 5:], one_hot, reduction="none"
                ).sum(dim=1)
            )
        seen = (~positive) & (t_obj[b] > 0.05)
        if seen.any():
            distill_terms.append(
                F.binary_cross_entropy_with_logits(
                    student[b, seen, 5:], t_cls[b, seen], reduction="none"
                ).sum(dim=1)
                * t_obj[b, seen]
            )
        sure = (~positive) & (t_obj[b] > 0.3)
        if sure.any():
            distill_terms.append(
                F.l1_loss(student[b, sure, :4], teacher[b, sure, :4], reduction="none").sum(dim=1)
            )
    norm = float(max(positives, 1))
    obj = F.binary_cross_entropy_with_logits(student[..., 4], obj_target, reduction="sum") / norm
    box = torch.cat(box_terms).sum() / norm if box_terms else student.sum() * 0.0
    cls = torch.cat(cls_terms).sum() / norm if cls_terms else student.sum() * 0.0
    distill = (
        torch.cat(distill_terms).sum() / norm * distill_weight
        if distill_terms
        else student.sum() * 0.0
    )
    total = 5.0 * box + obj + cls + distill
    return LossParts(
        total, float(box.detach()), float(obj.detach()), float(cls.detach()),
        float(distill.detach()), positives,
    )  # fmt: skip
