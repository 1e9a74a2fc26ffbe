"""Per-structure acoustic properties, drawn at random for every sample (SynthSeg-like).

Each material gets a mean backscatter level (dB relative to plain tissue), a texture (amplitude and
mix of three random fields of different grain), a round-trip attenuation (dB/mm, low in fluid so
that tissue behind fluid is enhanced, huge in gas so that it shadows) and an acoustic impedance
(jumps between materials give specular wall echoes). The ranges overlap on purpose: the ovary's
stroma is on average as bright as the tissue around it, so grey level alone identifies no class;
patches of other soft tissue (``tissue_patch``, ovary-sized, unlabelled) get their own level and,
half the time, the ovary's own texture set, so a region of distinct texture is not by itself an
ovary: its capsule, shape and follicles are what tell; fluids (follicles, vessels, free fluid) stay anechoic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from follicle_seg.synth.anatomy import MATERIALS

N_FIELDS = 6  # texture fields: fine, medium, coarse grain, twice (the ovary's own set)
_OVARY_SET = ("stroma", "capsule")


@dataclass(frozen=True, eq=False)
class MaterialTable:
    """Arrays indexed by the position of a material in :data:`MATERIALS`."""

    echo_db: np.ndarray  # mean backscatter, dB relative to tissue
    texture_db: np.ndarray  # (n_materials, N_FIELDS) dB weight of each texture field (0 unused)
    alpha_db_mm: np.ndarray  # round-trip attenuation
    impedance: np.ndarray  # relative acoustic impedance (specular echoes at jumps)


def random_materials(rng: np.random.Generator, *, tissue_alpha_db_mm: float) -> MaterialTable:
    """Draw one sample's materials.

    Parameters
    ----------
    rng
        Random generator (the only source of randomness).
    tissue_alpha_db_mm
        Round-trip attenuation of soft tissue for this sample; time-gain compensation is tuned
        to it, so fluids (lower attenuation) enhance what lies behind them.
    """
    a0 = tissue_alpha_db_mm
    u = rng.uniform
    # the stroma differs from the tissue around it, but in either direction (no mean offset)
    stroma_db = float(rng.choice([-1.0, 1.0]) * u(1.5, 6.0) - 0.5)
    capsule_db = stroma_db + (u(4.0, 12.0) if rng.random() < 0.9 else 0.0)
    props: dict[str, tuple[float, float, float]] = {  # echo dB, attenuation, impedance
        "tissue": (0.0, a0, 1.60),
        "uterus": (rng.normal(-1.0, 3.5), a0 * u(0.9, 1.2), 1.62),
        "endometrium": (u(-6.0, 10.0), a0, 1.64),
        "bladder": (-u(40.0, 55.0), 0.005, 1.50),
        "bowel_wall": (u(3.0, 14.0), a0 * 1.2, 1.70),
        "bowel_fluid": (-u(22.0, 45.0), 0.05, 1.52),
        "bowel_mixed": (u(-12.0, 6.0), a0 * u(1.0, 1.6), 1.60),
        "gas": (u(10.0, 22.0), u(1.5, 5.0), 0.40),
        "fascia": (u(3.0, 12.0), a0, 1.64),
        "tissue_patch": (float(rng.choice([-1.0, 1.0]) * u(1.0, 8.0)), a0 * u(0.9, 1.2), 1.60 + rng.normal(0, 0.01)),
        "free_fluid": (-u(30.0, 55.0), 0.01, 1.50),
        "vessel_wall": (u(0.0, 10.0), a0, 1.70),
        "blood": (-u(22.0, 45.0), 0.10, 1.55),
        "capsule": (capsule_db, a0, 1.66),
        "stroma": (stroma_db, a0 * u(0.85, 1.15), 1.61 + rng.normal(0, 0.01)),
        "follicle": (-u(35.0, 55.0), 0.01, 1.50),
    }
    fluid = {"bladder", "bowel_fluid", "free_fluid", "blood", "follicle"}
    n = len(MATERIALS)
    echo = np.zeros(n, np.float32)
    alpha = np.zeros(n, np.float32)
    imp = np.zeros(n, np.float32)
    tex = np.zeros((n, N_FIELDS), np.float32)
    # texture breaks at the ovary's edge, and (half the time) at the edge of look-alike patches too
    own_set = _OVARY_SET + (("tissue_patch",) if rng.random() < 0.5 else ())
    for i, name in enumerate(MATERIALS):
        echo[i], alpha[i], imp[i] = props[name]
        own = slice(3, 6) if name in own_set else slice(0, 3)
        if name in fluid:
            tex[i, own] = rng.uniform(0.0, 1.0, 3)  # faint: fluid stays dark
        else:
            w = rng.dirichlet(np.ones(3))
            tex[i, own] = w * np.array([u(0.5, 4.0), u(0.5, 4.5), u(0.3, 3.5)]) * 1.5
    tex[MATERIALS.index("bowel_mixed")] *= 1.8
    return MaterialTable(echo, tex, alpha, imp)
