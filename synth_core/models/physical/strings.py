"""Plucked string: extended Karplus-Strong (Jaffe & Smith, "Extensions of the Karplus-Strong
plucked-string algorithm", CMJ 7(2), 1983) with exact fractional-delay tuning.

The loop is delay z^-N, a linear-phase brightness filter, a cascade of first-order allpasses for
stiffness (dispersion) and a first-order allpass fractional delay. Tuning sums the *phase delay at
f0* of every element and lets the fractional allpass make up exactly what is left; decay uses the
loop's *group delay* at f0, because a partial's envelope travels round the loop at group delay.
"""

from __future__ import annotations

import torch
from torch import Tensor

from synth_core.models.base import Control
from synth_core.models.physical.common import (
    LN_1000,
    PITCH,
    Instrument,
    Params,
    allpass1_group_delay,
    allpass1_phase_delay,
    midi_to_hz,
    poly_mul,
    render_loop,
    split_delay,
    tuned_allpass,
)

# Shortest loop, samples: the brightness, stiffness and fractional-delay filters need this much.
MIN_PERIOD = 8.0

DISPERSION_SECTIONS = 4  # written out as two squarings below
# Largest loop gain allowed at any frequency, so the loop stays stable with margin.
MAX_LOOP_GAIN = 0.99995

CONTROLS = (
    PITCH,
    Control("decay", "Decay", 0.1, 10.0, 1.5, "s", "log", "T60 of the fundamental."),
    Control(
        "brightness", "Brightness", 0.0, 1.0, 0.5, "", help="How long the upper partials ring."
    ),
    Control(
        "pick_position",
        "Pick position",
        0.02,
        0.5,
        0.13,
        "",
        help="Where the string is plucked, as a fraction of its length from the bridge.",
    ),
    Control("stiffness", "Stiffness", 0.0, 1.0, 0.1, "", help="Inharmonicity of a stiff string."),
)


def render_string(
    params: Params, *, samples: int, sample_rate: int, generator: torch.Generator
) -> Tensor:
    """Render plucked strings, ``[batch, samples]`` float64, not normalised.

    Parameters
    ----------
    params : mapping of name to Tensor [batch]
        ``pitch`` (MIDI), ``decay`` (s, T60 of the fundamental), ``brightness`` (0–1),
        ``pick_position`` (fraction of the length), ``stiffness`` (0–1).
    samples : int
        Output length in samples.
    sample_rate : int
        Hz.
    generator : torch.Generator
        Source of the pluck's noise burst.

    Notes
    -----
    A pitch above ``sample_rate / MIN_PERIOD`` plays at that frequency.
    """
    # A loop shorter than MIN_PERIOD samples cannot hold its filters, so a note above
    # sample_rate / MIN_PERIOD (2756 Hz, MIDI 100.8, at 22.05 kHz) plays at that ceiling instead
    # of failing: every pitch slider position plays at every sample rate, as on the tube.
    f0 = midi_to_hz(params["pitch"]).clamp_max(sample_rate / MIN_PERIOD)
    period = sample_rate / f0
    omega = 2.0 * torch.pi / period
    one_minus_cos = 1.0 - torch.cos(omega)

    # Per-period gain that makes the fundamental fall 60 dB in `decay` seconds; the period is
    # measured at group delay, so it is finished below once the loop is known.
    decay = params["decay"]

    # Stiffness: allpass coefficients c < 0 delay low frequencies more than high ones, so upper
    # partials come out sharp, as on a stiff string. Keep their delay inside the period.
    room = ((period - 3.0) / DISPERSION_SECTIONS).clamp_min(1.0)
    c_disp = -torch.minimum(0.7 * params["stiffness"], (room - 1.0) / (room + 1.0))
    loop_phase_delay = 1.0 + DISPERSION_SECTIONS * allpass1_phase_delay(c_disp, omega)
    whole, delta = split_delay(period - loop_phase_delay)
    c_frac = tuned_allpass(delta, omega)

    group_delay = (
        whole
        + 1.0
        + DISPERSION_SECTIONS * allpass1_group_delay(c_disp, omega)
        + allpass1_group_delay(c_frac, omega)
    )
    per_loop = torch.exp(-LN_1000 * group_delay / (decay * sample_rate))

    # Brightness filter a + (1 - 2a) z^-1 + a z^-2: symmetric, so exactly one sample of delay at
    # every frequency; |L(w)| = 1 - 2a (1 - cos w). Its DC gain is 1, so the loop gain g at DC is
    # per_loop / |L(w0)|; cap a so that g stays below MAX_LOOP_GAIN.
    a_max = (1.0 - per_loop / MAX_LOOP_GAIN) / (2.0 * one_minus_cos)
    a = torch.minimum(0.25 * (1.0 - params["brightness"]), a_max).clamp_min(0.0)
    gain = per_loop / (1.0 - 2.0 * a * one_minus_cos)

    excitation = pick_comb(
        pluck(period, params["pick_position"], generator), params["pick_position"] * period
    )
    # H = 1 / (1 - g L D^4 F z^-N) with each allpass as num/den: H = A / (A - g L Dn^4 Fn z^-N)
    # with A = Dd^4 Fd, all as short coefficient rows.
    ones = torch.ones_like(a)
    disp_num = torch.stack([c_disp, ones], -1)
    disp_den = torch.stack([ones, c_disp], -1)
    frac_num = torch.stack([c_frac, ones], -1)
    frac_den = torch.stack([ones, c_frac], -1)
    loop_filter = torch.stack([a, 1.0 - 2.0 * a, a], -1) * gain[:, None]
    disp_num = poly_mul(poly_mul(disp_num, disp_num), poly_mul(disp_num, disp_num))
    disp_den = poly_mul(poly_mul(disp_den, disp_den), poly_mul(disp_den, disp_den))
    head = poly_mul(disp_den, frac_den)
    tail = -poly_mul(poly_mul(loop_filter, disp_num), frac_num)
    return render_loop(excitation, head, head, tail, whole, samples=samples)


def pluck(period: Tensor, pick_position: Tensor, generator: torch.Generator) -> Tensor:
    """The pluck that starts the string: a short raised-cosine pulse (the finger or plectrum,
    narrower for a pick near the bridge) plus one period of quiet noise (the classic
    Karplus-Strong string state), so repeated notes differ a little but mostly sound alike."""
    burst = int(torch.ceil(period.max()).item())
    n = torch.arange(burst, dtype=torch.float64)[None, :]
    width = (period * pick_position).clamp_min(2.0)[:, None]
    pulse = torch.where(n < width, 0.5 - 0.5 * torch.cos(2.0 * torch.pi * n / width), 0.0)
    noise = torch.rand(period.shape[0], burst, generator=generator, dtype=torch.float64) - 0.5
    noise = noise * (n < period[:, None])
    return pulse + 0.2 * (noise - noise.mean(dim=-1, keepdim=True))


def pick_comb(burst: Tensor, delay: Tensor) -> Tensor:
    """Plucking at a fraction beta of the length cancels every 1/beta-th harmonic: the feedforward
    comb 1 - z^-(beta P) on the excitation (Jaffe & Smith 1983), with a linearly interpolated
    fractional delay (differentiable in ``delay``; the burst is short, so this is cheap)."""
    whole = torch.floor(delay.detach())
    frac = (delay - whole)[:, None]
    length = burst.shape[-1] + int(whole.max().item()) + 2
    padded = torch.nn.functional.pad(burst, (0, length - burst.shape[-1]))
    n = torch.arange(length)[None, :] - whole.long()[:, None]
    earlier = padded.gather(-1, n.clamp_min(0)) * (n >= 0)
    earliest = padded.gather(-1, (n - 1).clamp_min(0)) * (n >= 1)
    return padded - (1.0 - frac) * earlier - frac * earliest


STRING = Instrument(
    name="string",
    title="Plucked string",
    controls=CONTROLS,
    render=render_string,
)
