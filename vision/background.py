"""Class-agnostic static foreground: what arrived in the scene and stayed.

A dual-rate background model (Porikli's "dual foreground" idea) on a low-resolution luma plane.
Two running-average backgrounds follow the scene with time constants in seconds of stream time:

* the short-term model (a few seconds) absorbs anything that has stopped moving;
* the long-term model (minutes) remembers the scene as it was before.

A pixel that differs from the long-term model but not from the short-term one belongs to
something that arrived and then stayed still: *static foreground* (a parked car, a box, a chair).
A moving object differs from both and is never static; a removed object matches the long-term
model again and stops being static at once.

The long-term model is not updated where the foreground is static, so a blocker stays static for
as long as it is there (up to ``max_static_s``, after which it is absorbed as a permanent change).

Global changes are handled twice: a smooth illumination drift (clouds, dusk) is compensated by a
robust gain (the median ratio of the frame to the long-term model) before comparing; an abrupt
change of most of the frame (lights switched, IR mode, the camera knocked) re-seeds both models.

Flat pictures (IR night mode, fog, a heavily compressed substream) shrink every luma difference
with the picture's contrast: a dark bag that differs by 25 levels by day differs by 14 at night,
under a fixed threshold. With ``contrast_reference`` the threshold follows the scene's contrast:
it is ``diff_threshold`` times the long-term background's luma standard deviation over
``contrast_reference`` (never more than ``diff_threshold``; a background flatter than
``MIN_CONTRAST_SCALE`` of the reference is too bare, a blank wall or floor, to tell the camera's
contrast from, and keeps ``diff_threshold``), and never below ``NOISE_MARGIN`` times the sensor
noise measured on the frame (the median absolute difference from the short-term model), so a flat
but noisy picture does not turn its noise into static regions. Well-lit scenes keep
``diff_threshold`` as it is.

Cold start and its limit: both models start from the first frame, so whatever is already in the
scene then (a car parked before the camera started, clutter already in the lane) is background
and is not reported by this model (the detector-driven rules still see vehicles). When such an
object leaves, its "ghost" (the empty ground, which differs from the long-term model) would look
like a new static object. A new static region is tested for being a ghost during its first
``ghost_check_s``: a ghost has its outline (edges) in the long-term model but not in the frame,
and stands out from its surroundings in the long-term model but not in the frame; both cues must
agree (either alone is fooled by textured ground such as painted lane markings). Ghosts are
absorbed into the long-term model; a caller that knows better (the fire-lane rule knows where a
tracked vehicle just drove away from) absorbs regions with :meth:`StaticForeground.absorb`.
A ghost the test misses stays static (the long-term model is frozen under static pixels) until
``max_static_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# The threshold shrinks with the scene's contrast down to this fraction of diff_threshold; a
# background flatter than this fraction of contrast_reference keeps diff_threshold.
MIN_CONTRAST_SCALE = 0.4
# ... and never below this many noise standard deviations (1.4826 * median absolute deviation).
NOISE_MARGIN = 3.0


@dataclass(frozen=True, slots=True)
class StaticBlob:
    """One connected region of static foreground.

    Attributes:
        xyxy: (x1, y1, x2, y2) bounding box in pixels of the model's luma (x2, y2 exclusive).
        area_px: number of static pixels in the region.
        label: index of the region in :attr:`StaticForeground.labels`.
        since_pts_s: stream time since which its pixels have been static (the median over the
            region): about one or two short time constants after the object arrived.
    """

    xyxy: tuple[int, int, int, int]
    area_px: int
    label: int
    since_pts_s: float


class StaticForeground:
    """Dual-rate running-average background model giving a static-foreground mask.

    Args:
        short_tau_s: time constant of the short-term background, seconds of stream time (an
            object that stops becomes static after about ``short_tau_s * ln(contrast /
            diff_threshold)``, i.e. 1–2 time constants).
        long_tau_s: time constant of the long-term background.
        diff_threshold: absolute luma difference (0..255) above which a pixel is foreground.
        min_area_frac: smallest static region kept, as a fraction of the frame's area.
        reseed_fraction: when more than this fraction of the pixels changes at once (against the
            short-term model) or is static, both models are re-seeded from the frame.
        max_static_s: a pixel static for longer than this is absorbed into the long-term model
            (a permanent change of the scene); None never absorbs.
        ghost_check_s: a region is tested for being a ghost during its first seconds as static;
            None turns the test off (a caller that recognises ghosts itself, see :meth:`absorb`).
        max_dt_s: longest time step applied in one update (a stalled stream does not flush the
            models at once); defaults to ``short_tau_s``.
        contrast_reference: luma standard deviation of a well-lit scene (a daylight street is
            about 35-45); in flatter pictures the threshold shrinks in proportion (see the
            module docstring). None keeps ``diff_threshold`` fixed.

    Raises:
        ValueError: when a time constant or threshold is out of range.
    """

    def __init__(
        self,
        short_tau_s: float = 2.0,
        long_tau_s: float = 120.0,
        diff_threshold: float = 15.0,
        min_area_frac: float = 0.002,
        reseed_fraction: float = 0.5,
        max_static_s: float | None = 3600.0,
        ghost_check_s: float | None = 1.0,
        max_dt_s: float | None = None,
        contrast_reference: float | None = 35.0,
    ) -> None:
        if not 0 < short_tau_s < long_tau_s:
            raise ValueError(
                f"StaticForeground: need 0 < short_tau_s < long_tau_s, got {short_tau_s} "
                f"and {long_tau_s}"
            )
        if not 0 < diff_threshold < 255:
            raise ValueError(
                f"StaticForeground: diff_threshold must be in (0, 255), got {diff_threshold}"
            )
        if not 0 <= min_area_frac < 1:
            raise ValueError(
                f"StaticForeground: min_area_frac must be in [0, 1), got {min_area_frac}"
            )
        if not 0 < reseed_fraction <= 1:
            raise ValueError(
                f"StaticForeground: reseed_fraction must be in (0, 1], got {reseed_fraction}"
            )
        if max_static_s is not None and max_static_s <= 0:
            raise ValueError(f"StaticForeground: max_static_s must be > 0, got {max_static_s}")
        if contrast_reference is not None and not 0 < contrast_reference < 255:
            raise ValueError(
                "StaticForeground: contrast_reference must be in (0, 255) or None, got "
                f"{contrast_reference}"
            )
        self.short_tau_s = short_tau_s
        self.long_tau_s = long_tau_s
        self.diff_threshold = diff_threshold
        self.min_area_frac = min_area_frac
        self.reseed_fraction = reseed_fraction
        self.max_static_s = max_static_s
        self.ghost_check_s = ghost_check_s
        self.max_dt_s = short_tau_s if max_dt_s is None else max_dt_s
        self.contrast_reference = contrast_reference
        self.threshold = diff_threshold  # the one the last update used
        self._short: np.ndarray | None = None
        self._long: np.ndarray | None = None
        self._static_since: np.ndarray | None = None
        self._last_pts_s: float | None = None
        self._frame: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._blobs: list[StaticBlob] = []
        self._kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self.reseeds = 0
        self.ghosts_absorbed = 0

    # ----- public ----------------------------------------------------------------------------

    def update(self, luma: np.ndarray, pts_s: float) -> np.ndarray:
        """Feed one frame; return its static-foreground mask.

        Args:
            luma: uint8 (h, w) luma plane at low resolution (e.g. 160 px wide).
            pts_s: stream time of the frame; must not go backwards. A repeated timestamp returns
                the previous mask without updating.

        Returns:
            uint8 (h, w) mask, 1 where the pixel is static foreground (after morphology and the
            minimum area), read-only.

        Raises:
            ValueError: when ``luma`` is not a 2-D uint8 array, or ``pts_s`` is not finite or
                goes backwards.
        """
        frame = self._check(luma, pts_s)
        if self._short is None or self._short.shape != frame.shape:
            return self._seed(frame, pts_s)
        last = self._last_pts_s
        if last is not None and pts_s == last and self._mask is not None:
            return self._mask
        dt_s = min(pts_s - (last if last is not None else pts_s), self.max_dt_s)
        return self._step(frame, pts_s, dt_s)

    def absorb(self, region: np.ndarray) -> None:
        """Make a region background at once (a ghost the caller recognised, e.g. where a tracked
        object just drove away): the long-term model takes the last frame's values there.

        Args:
            region: bool or uint8 (h, w) mask of the model's size, nonzero = absorb.

        Raises:
            ValueError: when the mask's shape is not the model's, or no frame was seen yet.
        """
        if self._long is None or self._frame is None or self._static_since is None:
            raise ValueError("StaticForeground.absorb: no frame seen yet")
        where = np.asarray(region).astype(bool)
        if where.shape != self._long.shape:
            raise ValueError(
                f"StaticForeground.absorb: mask shape {where.shape} is not the model's "
                f"{self._long.shape}"
            )
        self._long[where] = self._frame[where]
        self._static_since[where] = np.inf
        self.ghosts_absorbed += 1

    @property
    def mask(self) -> np.ndarray | None:
        """The last mask (uint8, 1 = static), or None before the first frame."""
        return self._mask

    @property
    def labels(self) -> np.ndarray | None:
        """int32 (h, w) region labels of the last mask (0 = none), matching :attr:`blobs`."""
        return self._labels

    @property
    def blobs(self) -> list[StaticBlob]:
        """The static regions of the last mask."""
        return list(self._blobs)

    @property
    def shape(self) -> tuple[int, int] | None:
        return (
            None if self._short is None else (int(self._short.shape[0]), int(self._short.shape[1]))
        )

    # ----- internals -------------------------------------------------------------------------

    def _check(self, luma: np.ndarray, pts_s: float) -> np.ndarray:
        if not isinstance(luma, np.ndarray) or luma.dtype != np.uint8 or luma.ndim != 2:
            got = (
                f"{luma.dtype} array of shape {luma.shape}"
                if isinstance(luma, np.ndarray)
                else type(luma).__name__
            )
            raise ValueError(f"StaticForeground.update: luma must be a 2-D uint8 array, got {got}")
        if luma.shape[0] < 4 or luma.shape[1] < 4:
            raise ValueError(f"StaticForeground.update: luma too small: {luma.shape}")
        if not math.isfinite(pts_s):
            raise ValueError(f"StaticForeground.update: pts_s must be finite, got {pts_s}")
        if self._last_pts_s is not None and pts_s < self._last_pts_s:
            raise ValueError(
                f"StaticForeground.update: pts_s went backwards ({pts_s} after {self._last_pts_s})"
            )
        return luma.astype(np.float32)

    def _seed(self, frame: np.ndarray, pts_s: float) -> np.ndarray:
        self._short = frame.copy()
        self._long = frame.copy()
        self._static_since = np.full(frame.shape, np.inf, np.float32)
        self._last_pts_s = pts_s
        self._frame = frame
        return self._publish(np.zeros(frame.shape, np.uint8))

    def _reseed(self, frame: np.ndarray, pts_s: float) -> np.ndarray:
        self.reseeds += 1
        return self._seed(frame, pts_s)

    def _step(self, frame: np.ndarray, pts_s: float, dt_s: float) -> np.ndarray:
        short, long_ = self._short, self._long
        static_since = self._static_since
        if short is None or long_ is None or static_since is None:
            return self._seed(frame, pts_s)
        self._last_pts_s = pts_s
        self._frame = frame
        diff_short = np.abs(frame - short)
        thr = self.threshold = self._threshold(long_, diff_short)
        fg_short = diff_short > thr
        if fg_short.mean() > self.reseed_fraction:
            return self._reseed(frame, pts_s)
        gain = _robust_gain(frame, long_)
        fg_long = np.abs(frame - gain * long_) > thr
        raw_static = (fg_long & ~fg_short).astype(np.uint8)
        if raw_static.mean() > self.reseed_fraction:
            return self._reseed(frame, pts_s)
        clean = cv2.morphologyEx(raw_static, cv2.MORPH_OPEN, self._kernel)
        clean = cv2.morphologyEx(clean, cv2.MORPH_CLOSE, self._kernel)
        static = clean.astype(bool)
        newly = static & np.isinf(static_since)
        static_since[newly] = pts_s
        static_since[~static] = np.inf
        # Update: the short model everywhere, the long model except under static foreground.
        a_short = 1.0 - math.exp(-dt_s / self.short_tau_s)
        a_long = 1.0 - math.exp(-dt_s / self.long_tau_s)
        cv2.accumulateWeighted(frame, short, a_short)
        keep_long = (~static).astype(np.uint8)
        cv2.accumulateWeighted(frame, long_, a_long, mask=keep_long)
        if self.max_static_s is not None:
            expired = static & (pts_s - static_since > self.max_static_s)
            if expired.any():
                long_[expired] = frame[expired]
                static_since[expired] = np.inf
                static &= ~expired
        mask = self._regions(static.astype(np.uint8), frame, pts_s)
        return self._publish(mask)

    def _threshold(self, long_: np.ndarray, diff_short: np.ndarray) -> float:
        """``diff_threshold`` scaled to the scene's contrast, above the sensor noise."""
        if self.contrast_reference is None:
            return self.diff_threshold
        scale = float(long_.std()) / self.contrast_reference
        if not MIN_CONTRAST_SCALE <= scale < 1.0:
            return self.diff_threshold  # well lit, or too bare to tell its contrast
        noise = 1.4826 * float(np.median(diff_short))
        floor = max(MIN_CONTRAST_SCALE * self.diff_threshold, NOISE_MARGIN * noise)
        return min(self.diff_threshold, max(self.diff_threshold * scale, floor))

    def _regions(self, static: np.ndarray, frame: np.ndarray, pts_s: float) -> np.ndarray:
        """Drop small regions and ghosts; fill ``self._labels`` and ``self._blobs``."""
        long_, static_since = self._long, self._static_since
        if long_ is None or static_since is None:
            return static
        h, w = static.shape
        min_area = max(4, round(self.min_area_frac * h * w))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(static, connectivity=8)
        out = np.zeros_like(static)
        out_labels = np.zeros(static.shape, np.int32)
        blobs: list[StaticBlob] = []
        edges_now: np.ndarray | None = None
        edges_bg: np.ndarray | None = None
        for i in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if area < min_area:
                continue
            region = labels[y : y + bh, x : x + bw] == i
            since = static_since[y : y + bh, x : x + bw][region]
            age_s = pts_s - float(np.min(since))
            if self.ghost_check_s is not None and age_s <= self.ghost_check_s:
                if edges_now is None or edges_bg is None:
                    edges_now, edges_bg = _edges(frame), _edges(long_)
                if _is_ghost(labels == i, frame, long_, edges_now, edges_bg, self._kernel):
                    whole = labels == i
                    long_[whole] = frame[whole]
                    static_since[whole] = np.inf
                    self.ghosts_absorbed += 1
                    continue
            label = len(blobs) + 1
            out[y : y + bh, x : x + bw][region] = 1
            out_labels[y : y + bh, x : x + bw][region] = label
            blobs.append(StaticBlob((x, y, x + bw, y + bh), area, label, float(np.median(since))))
        self._labels = out_labels
        self._blobs = blobs
        return out

    def _publish(self, mask: np.ndarray) -> np.ndarray:
        if not np.any(mask):
            self._labels = np.zeros(mask.shape, np.int32)
            self._blobs = []
        mask.flags.writeable = False
        self._mask = mask
        return mask


def _robust_gain(frame: np.ndarray, background: np.ndarray) -> float:
    """Median ratio frame / background over well-lit pixels: a global illumination factor."""
    valid = background > 16.0
    if valid.sum() < 16:
        return 1.0
    return float(np.median(frame[valid] / background[valid]))


def _edges(image: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def _is_ghost(
    region: np.ndarray,
    frame: np.ndarray,
    background: np.ndarray,
    edges_now: np.ndarray,
    edges_bg: np.ndarray,
    kernel: np.ndarray,
) -> bool:
    """Whether a new static region is a ghost: background revealed where an object left.

    Two cues must agree, because either alone is fooled by textured ground (painted text,
    tiles): the region's outline has edges in the background model but not in the frame, and
    the region stands out from its surroundings in the background model but not in the frame.
    """
    r = region.astype(np.uint8)
    ring = (cv2.dilate(r, kernel) - cv2.erode(r, kernel)).astype(bool)
    outside = (cv2.dilate(r, kernel, iterations=3) - r).astype(bool)
    if not ring.any() or not outside.any():
        return False
    outline_in_bg = float(edges_bg[ring].mean()) > 1.5 * float(edges_now[ring].mean()) + 4.0
    contrast_now = abs(float(frame[region].mean()) - float(frame[outside].mean()))
    contrast_bg = abs(float(background[region].mean()) - float(background[outside].mean()))
    return outline_in_bg and contrast_bg > 2.0 * contrast_now + 4.0
