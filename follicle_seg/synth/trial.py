"""The trial model behind study mode: dose groups, visit dates and follicle life histories.

Each ovary starts (baseline) with few antral follicles, as in primary ovarian insufficiency. New
follicles appear at a rate that rises with the dose group and grow slowly (antral, 0.05-0.35 mm
per day) until they regress; some become dominant and grow 1-2 mm per day up to 18-25 mm, then
ovulate (disappear). A follicle's diameter at any day follows from its history, so every visit
of a patient is consistent with the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

GROUPS: tuple[str, ...] = ("low", "medium", "high")
NEW_PER_14_DAYS = {"low": 0.4, "medium": 1.0, "high": 1.8}  # new follicles per ovary
DOMINANT_PER_14_DAYS = {"low": 0.05, "medium": 0.15, "high": 0.3}  # chance of a dominant one
FIRST_BASELINE = date(2025, 1, 6)


@dataclass(frozen=True)
class FollicleHistory:
    """Life of one follicle: visible from ``birth_day`` to ``end_day`` (days from baseline)."""

    birth_day: float
    d0_mm: float
    rate_mm_per_day: float
    max_mm: float
    end_day: float

    def diameter(self, day: float) -> float | None:
        """Diameter (mm) on ``day``, ``None`` before birth or after regression / ovulation."""
        if not (self.birth_day <= day < self.end_day):
            return None
        return float(min(self.d0_mm + self.rate_mm_per_day * (day - self.birth_day), self.max_mm))


def follicle_histories(rng: np.random.Generator, group: str, n_days: float) -> list[FollicleHistory]:
    """All follicles one ovary shows over ``n_days`` of the trial in dose ``group``."""
    if group not in GROUPS:
        raise ValueError(f"Unknown dose group {group!r}; expected one of {', '.join(GROUPS)}.")
    out: list[FollicleHistory] = []
    for _ in range(int(rng.poisson(1.2))):  # antral follicles present at baseline
        out.append(FollicleHistory(-30.0, rng.uniform(2.5, 6.0), rng.uniform(0.0, 0.15), 9.0, rng.uniform(10, 80)))
    for _ in range(int(rng.poisson(0.8))):  # too small to count (< 2 mm)
        out.append(FollicleHistory(-30.0, rng.uniform(1.2, 1.9), 0.0, 1.9, rng.uniform(20, 200)))
    periods = max(1, int(np.ceil(n_days / 14.0)))
    for _ in range(int(rng.poisson(NEW_PER_14_DAYS[group] * periods))):
        birth = rng.uniform(0.0, n_days)
        out.append(FollicleHistory(birth, rng.uniform(1.5, 3.0), rng.uniform(0.05, 0.35), 12.0, birth + rng.uniform(20, 60)))
    for k in range(periods):
        if rng.random() < DOMINANT_PER_14_DAYS[group] * (1 + k / periods):
            birth = rng.uniform(14.0 * k, 14.0 * (k + 1))
            d0, rate, top = rng.uniform(4.0, 8.0), rng.uniform(1.0, 2.0), rng.uniform(18.0, 25.0)
            out.append(FollicleHistory(birth, d0, rate, top, birth + (top - d0) / rate + rng.uniform(0.0, 2.0)))
    return out


def visit_days(rng: np.random.Generator, visits: int) -> list[int]:
    """Days from baseline of each visit: 0, then every 14 days +- up to 3 days."""
    return [0] + [14 * k + int(rng.integers(-3, 4)) for k in range(1, visits)]


def baseline_date(rng: np.random.Generator) -> date:
    """A patient's baseline: within four months of the trial's first baseline."""
    return FIRST_BASELINE + timedelta(days=int(rng.integers(0, 120)))
