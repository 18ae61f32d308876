"""Blown tube: a reed driven by breath pressure, feeding a cylindrical bore closed at the reed
and open at the bell (a clarinet-like quarter-wave resonator).

The bore is a digital waveguide (Smith, "Physical Audio Signal Processing", sec. "Clarinet"):
a round trip of P/2 samples with an inverting, lowpass bell reflection, so it resonates at the odd
harmonics of f0. The reed is modelled as a memoryless saturating flow tanh(k p) driven at f0 (with
vibrato), not as a self-oscillating valve: that keeps the note exactly in tune and the whole note
one vectorised computation, at the cost of the bore not pulling the reed's pitch.

The bore needs a period of at least ``MIN_PERIOD`` samples, so the highest note it can hold is
``sample_rate / MIN_PERIOD``: 4410 Hz (above the slider's top, C8 = 4186 Hz) at 44.1 kHz, but
2205 Hz (MIDI 96.9) at 22.05 kHz. Notes above that play *at* that ceiling instead of failing, so
every position of the pitch slider plays at every sample rate; in tune up to the ceiling.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from synth_core.models.base import Control
from synth_core.models.physical.common import (
    LN_1000,
    PITCH,
    Instrument,
    Params,
    allpass1_group_delay,
    midi_to_hz,
    poly_mul,
    render_loop,
    split_delay,
    tuned_allpass,
)

BORE_T60 = 0.08  # s, how long the bore rings on its own once the breath stops
# Shortest period, samples: the bore's round trip is half of it, and must hold the bell filter's
# phase delay and the fractional allpass's 0.5–1.5 samples (split_delay) with a whole sample left.
MIN_PERIOD = 10.0
RELEASE = 0.06  # s, how fast the breath stops after ``hold``

CONTROLS = (
    PITCH,
    Control("pressure", "Breath pressure", 0.0, 1.0, 0.6, "", help="Harder blowing is brighter."),
    Control("noise", "Breath noise", 0.0, 1.0, 0.15, "", help="Turbulence in the air flow."),
    Control("vibrato", "Vibrato depth", 0.0, 50.0, 8.0, "cents"),
    Control("vibrato_rate", "Vibrato rate", 3.0, 8.0, 5.2, "Hz"),
    Control("attack", "Attack", 0.005, 0.3, 0.04, "s", "log", "Time for the breath to build up."),
    Control("hold", "Hold", 0.05, 10.0, 0.7, "s", "log", "How long the note is blown."),
    Control(
        "brightness", "Brightness", 0.0, 1.0, 0.5, "", help="Bell reflection: brighter rings more."
    ),
)


def highest_hz(sample_rate: int) -> float:
    """The highest note the bore holds at ``sample_rate`` (Hz): a period of ``MIN_PERIOD``."""
    return sample_rate / MIN_PERIOD


def breath_envelope(params: Params, n: Tensor, sample_rate: int) -> Tensor:
    """Breath pressure over time: a raised-cosine attack, a hold, an exponential release."""
    t = n[None, :] / sample_rate
    attack = params["attack"][:, None]
    hold = params["hold"][:, None]
    rise = 0.5 - 0.5 * torch.cos(math.pi * (t / attack).clamp(0.0, 1.0))
    fall = torch.exp(-LN_1000 * ((t - hold).clamp_min(0.0) / RELEASE))
    return rise * fall


def render_tube(
    params: Params, *, samples: int, sample_rate: int, generator: torch.Generator
) -> Tensor:
    """Render blown-tube notes, ``[batch, samples]`` float64, not normalised.

    Parameters
    ----------
    params : mapping of name to Tensor [batch]
        ``pitch`` (MIDI), ``pressure`` and ``noise`` (0–1), ``vibrato`` (cents),
        ``vibrato_rate`` (Hz), ``attack`` and ``hold`` (s), ``brightness`` (0–1).
    samples, sample_rate : int
        Output length in samples; Hz.
    generator : torch.Generator
        Source of the breath noise.

    Notes
    -----
    A pitch above :func:`highest_hz` plays at that frequency (see the module docstring).
    """
    f0 = midi_to_hz(params["pitch"]).clamp_max(highest_hz(sample_rate))
    period = sample_rate / f0
    batch = f0.shape[0]
    n = torch.arange(samples, dtype=torch.float64)
    t = n[None, :] / sample_rate

    # Frequency f0 (1 + d sin(2 pi fv t)) integrates to this phase.
    depth = (torch.pow(2.0, params["vibrato"] / 1200.0) - 1.0)[:, None]
    rate = params["vibrato_rate"][:, None]
    wobble = depth * (1.0 - torch.cos(2.0 * math.pi * rate * t)) / (2.0 * math.pi * rate)
    phase = 2.0 * math.pi * f0[:, None] * (t + wobble)
    envelope = breath_envelope(params, n, sample_rate)
    pressure = params["pressure"][:, None]
    drive = 1.0 + 8.0 * pressure  # a harder-blown reed saturates into a squarer, brighter flow
    flow = torch.tanh(drive * envelope * torch.sin(phase)) / torch.tanh(drive)
    noise = torch.randn(batch, samples, generator=generator).double()
    # Turbulence is loudest while the reed is open, so it is modulated by the flow.
    turbulence = params["noise"][:, None] * envelope * (0.6 + 0.4 * flow) * noise * 0.3
    excitation = flow * (0.4 + 0.6 * pressure) + turbulence

    # Bore: round trip P/2 samples including the bell filter's and the fractional allpass's phase
    # delay at f0, so its resonances sit exactly on the odd harmonics of the reed.
    omega = 2.0 * math.pi / period
    q = 0.7 * (1.0 - params["brightness"])  # one-pole bell reflection (1 - q) / (1 - q z^-1)
    bell_phase_delay = torch.atan2(q * torch.sin(omega), 1.0 - q * torch.cos(omega)) / omega
    whole, delta = split_delay(period / 2.0 - bell_phase_delay)
    c_frac = tuned_allpass(delta, omega)
    bell_group_delay = q * (torch.cos(omega) - q) / (1.0 - 2.0 * q * torch.cos(omega) + q * q)
    group_delay = whole + bell_group_delay + allpass1_group_delay(c_frac, omega)
    bell_gain = (1.0 - q) / torch.sqrt(1.0 - 2.0 * q * torch.cos(omega) + q * q)
    gain = torch.exp(-LN_1000 * group_delay / (BORE_T60 * sample_rate)) / bell_gain
    gain = gain.clamp_max(0.9999)

    # H = 1 / (1 + g B F z^-N), bell B = (1 - q) / (1 - q z^-1) and fraction F as num/den:
    # H = A / (A + g (1 - q) Fn z^-N) with A = (1 - q z^-1) Fd.
    ones = torch.ones_like(q)
    head = poly_mul(torch.stack([ones, -q], -1), torch.stack([ones, c_frac], -1))
    tail = torch.stack([c_frac, ones], -1) * (gain * (1.0 - q))[:, None]
    return render_loop(excitation, head, head, tail, whole, samples=samples)


TUBE = Instrument(name="tube", title="Blown tube", controls=CONTROLS, render=render_tube)
