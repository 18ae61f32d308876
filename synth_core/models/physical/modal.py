"""Struck instruments by modal synthesis: a sum of exponentially decaying sinusoids at the modal
frequencies of a free bar, a tuned marimba bar, a church bell and a circular membrane.

Each mode's amplitude is its shape at the strike point times the mallet's spectrum; each mode's
T60 is ``decay * (f_k / f_1) ** -damping``, so ``decay`` is exactly the first mode's T60. The
sum is rendered in closed form, without a per-sample loop: with n = b*B + i, each mode's
z_k^n = z_k^(bB) z_k^i, so the whole note is one small complex matrix product per batch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from synth_core.models.base import Control
from synth_core.models.physical.common import (
    LN_1000,
    PITCH,
    Instrument,
    Params,
    midi_to_hz,
)

BLOCK = 256

# Free-free uniform beam: beta_k L roots of cos(x) cosh(x) = 1; f_k ~ (beta_k L)^2
# (Fletcher & Rossing, "The Physics of Musical Instruments", 2nd ed., sec. 2.15).
BAR_BETAS = (4.73004, 7.85320, 10.99561, 14.13717, 17.27876, 20.42035, 23.56194)
BAR_RATIOS = tuple((b / BAR_BETAS[0]) ** 2 for b in BAR_BETAS)  # 1 : 2.756 : 5.404 : 8.933 …
# Marimba bars are undercut so their first three bending modes sit at 1 : 4 : 10
# (two octaves, then three octaves and a major third; Fletcher & Rossing sec. 19.2).
MARIMBA_RATIOS = (1.0, 4.0, 10.0)
# Tuned church bell relative to the hum: hum 0.5, prime 1, tierce 1.2, quint 1.5, nominal 2,
# deciem 2.5, undeciem 2.667, duodeciem 3, upper octave 4 times the prime
# (Rossing, "The Science of Sound", 3rd ed., table 13.1).
BELL_RATIOS = tuple(2.0 * r for r in (0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 2.667, 3.0, 4.0))
BELL_LEVELS = (0.6, 0.7, 0.8, 0.3, 1.0, 0.45, 0.35, 0.3, 0.25)
# Ideal circular membrane: f_mn proportional to j_mn, the n-th zero of the Bessel function J_m
# (Fletcher & Rossing sec. 3.5): (m, n, j_mn).
MEMBRANE_MODES = (
    (0, 1, 2.40483),
    (1, 1, 3.83171),
    (2, 1, 5.13562),
    (0, 2, 5.52008),
    (3, 1, 6.38016),
    (1, 2, 7.01559),
    (4, 1, 7.58834),
    (2, 2, 8.41724),
    (0, 3, 8.65373),
    (5, 1, 8.77148),
    (3, 2, 9.76102),
    (6, 1, 9.93611),
)
GLIDE_TIME = 0.03  # s, how fast a loose drum head's pitch bend relaxes after the hit


def _decay_control(default: float, maximum: float = 10.0) -> Control:
    return Control("decay", "Decay", 0.05, maximum, default, "s", "log", "T60 of the first mode.")


def _damping_control(default: float) -> Control:
    return Control(
        "damping", "Damping", 0.0, 2.0, default, "", help="How much faster upper modes die away."
    )


HARDNESS = Control(
    "hardness", "Hardness", 0.0, 1.0, 0.5, "", help="Mallet hardness: harder is brighter."
)


def _strike_control(
    default: float, maximum: float = 0.5, label: str = "Strike position"
) -> Control:
    return Control(
        "position", label, 0.0, maximum, default, "", help="Where the mallet hits, 0 = edge/end."
    )


def free_bar_shape(position: Tensor, betas: tuple[float, ...]) -> Tensor:
    """Mode shapes of a free-free beam at ``position`` (fraction of the length), ``[batch, K]``.

    phi_k(x) = cosh(bx) + cos(bx) - s_k (sinh(bx) + sin(bx)), s_k = (cosh b - cos b) /
    (sinh b - sin b), scaled so phi_k(0) = 1 (Fletcher & Rossing sec. 2.15).
    """
    beta = torch.tensor(betas, dtype=torch.float64)
    sigma = (torch.cosh(beta) - torch.cos(beta)) / (torch.sinh(beta) - torch.sin(beta))
    bx = beta[None, :] * position[:, None]
    shape = torch.cosh(bx) + torch.cos(bx) - sigma * (torch.sinh(bx) + torch.sin(bx))
    return shape / 2.0


def mallet_weight(freq: Tensor, hardness: Tensor) -> Tensor:
    """Spectrum of a mallet of contact bandwidth 300 Hz (soft) to 18 kHz (hard), Gaussian,
    relative to the first mode (so a soft mallet on a high note is quiet but never zero)."""
    corner = 300.0 * torch.pow(60.0, hardness)[:, None]
    return torch.exp(-(freq**2 - freq[:, :1] ** 2) / corner**2)


def modal_sum(
    freq: Tensor,
    t60: Tensor,
    amplitude: Tensor,
    *,
    samples: int,
    sample_rate: int,
    glide: Tensor | None = None,
) -> Tensor:
    """Sum of decaying sines ``sum_k A_k exp(-n/tau_k) sin(w_k n)``, ``[batch, samples]`` float64.

    freq, t60, amplitude : Tensor [batch, K]
        Hz, seconds, linear.
    glide : Tensor [batch] or None
        Fractional frequency raise at the hit, relaxing with time constant ``GLIDE_TIME``.
    """
    batch = freq.shape[0]
    audible = (freq < 0.45 * sample_rate).to(torch.float64)
    omega = 2.0 * math.pi * freq / sample_rate
    alpha = LN_1000 / (t60 * sample_rate)
    s = torch.complex(-alpha, omega)  # [batch, K]
    amp = torch.complex(amplitude * audible, torch.zeros_like(amplitude))
    tau = GLIDE_TIME * sample_rate
    if glide is not None:
        # The glide adds phase w_k * b * tau * (1 - exp(-n / tau)): its limit goes into the
        # closed form, the early difference is added sample by sample below.
        settled = torch.exp(torch.complex(torch.zeros_like(omega), omega * glide[:, None] * tau))
        amp = amp * settled
    blocks = -(-samples // BLOCK)
    i = torch.arange(BLOCK, dtype=torch.float64)
    b = torch.arange(blocks, dtype=torch.float64) * BLOCK
    inner = torch.exp(s[:, :, None] * i)  # [batch, K, BLOCK]
    outer = amp[:, None, :] * torch.exp(s[:, None, :] * b[None, :, None])  # [batch, blocks, K]
    audio = torch.matmul(outer, inner).imag.reshape(batch, blocks * BLOCK)[:, :samples]
    if glide is not None:
        # Until the bend has relaxed to e^-7 of its size the phase differs from the closed form
        # by -w_k b tau exp(-n / tau); that small, smooth difference needs only single precision.
        early_blocks = min(blocks, -(-int(7.0 * tau) // BLOCK))
        early = early_blocks * BLOCK
        n = torch.arange(early, dtype=torch.float64)
        lag = -torch.exp(-n / tau)[None, None, :] * tau * glide[:, None, None]
        extra = (omega[:, :, None] * lag).float()
        # z_k^n for the early samples from the same two factors as above: no further exp.
        head = outer[:, :early_blocks, :].transpose(1, 2).to(torch.complex64)
        ring = (head[..., None] * inner.to(torch.complex64)[:, :, None, :]).reshape(
            batch, -1, early
        )
        correction = (ring * (torch.polar(torch.ones_like(extra), extra) - 1.0)).sum(dim=1)
        early = min(early, samples)
        audio = torch.cat(
            [audio[:, :early] + correction.imag[:, :early].double(), audio[:, early:]], -1
        )
    return audio


def contact_noise(
    batch: int, level: Tensor, *, samples: int, sample_rate: int, seconds: float, generator
) -> Tensor:
    """A short exponentially decaying noise burst (mallet click, snare wires), first-differenced
    so it has no DC; ``[batch, samples]``."""
    length = min(samples, max(2, int(seconds * sample_rate)))
    noise = torch.randn(batch, length + 1, generator=generator, dtype=torch.float64)
    envelope = torch.exp(-LN_1000 * torch.arange(length, dtype=torch.float64) / length)
    burst = (noise[:, 1:] - noise[:, :-1]) * envelope * level[:, None]
    return torch.nn.functional.pad(burst, (0, samples - length))


def _jitter(shape: tuple[int, int], generator: torch.Generator) -> Tensor:
    """About ±1 dB of random level per mode, so a batch of one setting is not n copies."""
    return torch.exp(0.12 * torch.randn(shape, generator=generator, dtype=torch.float64))


def _struck(
    ratios: Tensor,
    shape: Tensor,
    params: Params,
    *,
    samples: int,
    sample_rate: int,
    generator: torch.Generator,
    click: float,
    glide: Tensor | None = None,
) -> Tensor:
    f1 = midi_to_hz(params["pitch"])[:, None]
    freq = f1 * ratios[None, :]
    t60 = params["decay"][:, None] * torch.pow(ratios[None, :], -params["damping"][:, None])
    amplitude = shape * mallet_weight(freq, params["hardness"]) * _jitter(freq.shape, generator)
    audio = modal_sum(freq, t60, amplitude, samples=samples, sample_rate=sample_rate, glide=glide)
    clicks = contact_noise(
        freq.shape[0],
        click * params["hardness"] * amplitude.abs().sum(dim=-1),
        samples=samples,
        sample_rate=sample_rate,
        seconds=0.003,
        generator=generator,
    )
    return audio + clicks


def _struck_bar(
    ratios: tuple[float, ...],
    betas: tuple[float, ...],
    params: Params,
    *,
    samples: int,
    sample_rate: int,
    generator: torch.Generator,
    click: float,
) -> Tensor:
    """A bar struck at ``position``: modes at ``ratios``, shaped like a free bar's ``betas``."""
    return _struck(
        torch.tensor(ratios, dtype=torch.float64),
        free_bar_shape(params["position"], betas),
        params,
        samples=samples,
        sample_rate=sample_rate,
        generator=generator,
        click=click,
    )


def render_bar(params: Params, *, samples: int, sample_rate: int, generator) -> Tensor:
    """Free-free bar (glockenspiel/vibraphone-like) struck at ``position``."""
    return _struck_bar(
        BAR_RATIOS, BAR_BETAS, params,
        samples=samples, sample_rate=sample_rate, generator=generator, click=0.02,
    )  # fmt: skip


def render_marimba(params: Params, *, samples: int, sample_rate: int, generator) -> Tensor:
    """Tuned marimba bar; mode shapes approximated by the uniform bar's first three."""
    return _struck_bar(
        MARIMBA_RATIOS, BAR_BETAS[:3], params,
        samples=samples, sample_rate=sample_rate, generator=generator, click=0.03,
    )  # fmt: skip


def render_bell(params: Params, *, samples: int, sample_rate: int, generator) -> Tensor:
    """Church bell; striking higher up (``position`` towards 1) favours the low partials."""
    ratios = torch.tensor(BELL_RATIOS, dtype=torch.float64)
    levels = torch.tensor(BELL_LEVELS, dtype=torch.float64)
    shape = levels[None, :] * torch.pow(ratios[None, :], -params["position"][:, None])
    return _struck(
        ratios,
        shape,
        params,
        samples=samples,
        sample_rate=sample_rate,
        generator=generator,
        click=0.01,
    )


def membrane_shape(position: Tensor) -> Tensor:
    """J_m(j_mn r) at the strike radius r, times a radiation weight that favours the
    monopole-like m = 0 modes; ``[batch, K]`` (numpy Bessel, so not differentiable in r)."""
    import scipy.special  # imported here: it costs most of a second, and only drums need it

    m = np.array([mode[0] for mode in MEMBRANE_MODES])
    j = np.array([mode[2] for mode in MEMBRANE_MODES])
    r = position.detach().cpu().numpy()[:, None]
    shape = scipy.special.jv(m[None, :], j[None, :] * r)
    radiation = np.where(m == 0, 1.0, 0.5)
    return torch.from_numpy(shape * radiation[None, :])


def render_membrane(params: Params, *, samples: int, sample_rate: int, generator) -> Tensor:
    """Circular drum head with optional pitch glide (``tension``) and snare wires (``snare``)."""
    ratios = torch.tensor([mode[2] / MEMBRANE_MODES[0][2] for mode in MEMBRANE_MODES])
    shape = membrane_shape(params["position"])
    glide = torch.pow(2.0, params["tension"] / 12.0) - 1.0
    audio = _struck(
        ratios.to(torch.float64),
        shape,
        params,
        samples=samples,
        sample_rate=sample_rate,
        generator=generator,
        click=0.02,
        glide=glide,
    )
    level = audio.abs().amax(dim=-1).detach().clamp_min(1e-9)
    snare = contact_noise(
        audio.shape[0],
        params["snare"] * level,
        samples=samples,
        sample_rate=sample_rate,
        seconds=0.25,
        generator=generator,
    )
    return audio + snare


BAR = Instrument(
    name="bar",
    title="Struck bar",
    controls=(
        PITCH,
        _decay_control(2.5),
        _damping_control(1.0),
        HARDNESS,
        _strike_control(0.1),
    ),
    render=render_bar,
    pitch_is="first mode",
)
MARIMBA = Instrument(
    name="marimba",
    title="Marimba",
    controls=(
        PITCH,
        _decay_control(0.8, maximum=5.0),
        _damping_control(1.2),
        Control("hardness", "Hardness", 0.0, 1.0, 0.35, "", help=HARDNESS.help),
        _strike_control(0.35),
    ),
    render=render_marimba,
    pitch_is="first mode",
)
BELL = Instrument(
    name="bell",
    title="Bell",
    controls=(
        PITCH,
        _decay_control(6.0, maximum=20.0),
        _damping_control(0.6),
        Control("hardness", "Hardness", 0.0, 1.0, 0.7, "", help=HARDNESS.help),
        _strike_control(0.2, maximum=1.0, label="Strike height"),
    ),
    render=render_bell,
    pitch_is="first mode (the hum)",
)
MEMBRANE = Instrument(
    name="membrane",
    title="Drum",
    controls=(
        PITCH,
        _decay_control(0.6, maximum=5.0),
        _damping_control(0.8),
        Control("hardness", "Hardness", 0.0, 1.0, 0.6, "", help=HARDNESS.help),
        _strike_control(0.3, maximum=0.9),
        Control(
            "tension", "Tension", 0.0, 12.0, 1.0, "st", help="Pitch bend at the hit, in semitones."
        ),
        Control("snare", "Snare", 0.0, 1.0, 0.0, "", help="Level of the snare wires' rattle."),
    ),
    render=render_membrane,
    fixed=("position",),
    pitch_is="first mode",
)
