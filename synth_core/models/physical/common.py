"""Pieces every physical instrument shares: the instrument description, tuning helpers and an
exact frequency-domain renderer for linear feedback loops.

Parameters travel as a dict of float64 tensors of shape ``[batch]`` in the units of each
:class:`~synth_core.models.base.Control` (MIDI note for ``pitch``, seconds for ``decay``…), so a
whole batch of notes with different settings renders in one vectorised call and gradients flow
back to every parameter the instrument marks as differentiable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import scipy.fft
import torch
from torch import Tensor

from synth_core.models.base import Control

Params = Mapping[str, Tensor]
RenderFn = Callable[..., Tensor]

# T60 is the time for a 60 dB fall: amplitude factor 10**-3, i.e. ln(1000) nepers.
LN_1000 = 3.0 * math.log(10.0)

# The exponential weighting of the frequency-domain renderer: the last output sample is amplified
# by this much when the weighting is undone (float64 keeps that far below audibility), and time
# aliasing from beyond the FFT length is attenuated by at least its inverse.
_WEIGHT_RANGE = 1e6

PITCH = Control(
    "pitch", "Pitch", 24.0, 108.0, 60.0, "MIDI", help="Note number of the fundamental (60 = C4)."
)


@dataclass(frozen=True)
class Instrument:
    """One playable physical instrument.

    name : registry key, used as ``physical:NAME``.
    title : what the GUI shows.
    controls : its parameters, ``pitch`` first.
    render : ``render(params, *, samples, sample_rate, generator) -> Tensor [batch, samples]``
        (float64, any level; the model normalises).
    fixed : names of the controls gradient descent cannot move (sound matching searches them).
    pitch_is : what the pitch names ("fundamental" or "first mode"), for documentation.
    """

    name: str
    title: str
    controls: tuple[Control, ...]
    render: RenderFn
    fixed: tuple[str, ...] = ()
    pitch_is: str = "fundamental"

    def control(self, name: str) -> Control:
        for control in self.controls:
            if control.name == name:
                return control
        raise KeyError(name)


def midi_to_hz(midi: Tensor) -> Tensor:
    """Equal-tempered frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * torch.pow(2.0, (midi - 69.0) / 12.0)


def hz_to_midi(hz: Tensor) -> Tensor:
    return 69.0 + 12.0 * torch.log2(hz / 440.0)


def from_normalised(control: Control, position: Tensor) -> Tensor:
    """Differentiable version of :meth:`Control.from_normalised` for tensors of 0–1 positions."""
    position = position.clamp(0.0, 1.0)
    if control.curve == "log":
        return control.minimum * torch.pow(control.maximum / control.minimum, position)
    return control.minimum + position * (control.maximum - control.minimum)


def to_normalised(control: Control, value: Tensor) -> Tensor:
    value = value.clamp(control.minimum, control.maximum)
    if control.curve == "log":
        return torch.log(value / control.minimum) / math.log(control.maximum / control.minimum)
    return (value - control.minimum) / (control.maximum - control.minimum)


def allpass1_phase_delay(coefficient: Tensor, omega: Tensor) -> Tensor:
    """Phase delay in samples of ``A(z) = (c + z^-1) / (1 + c z^-1)`` at ``omega`` rad/sample.

    arg A(e^jw) = -w + 2 atan2(c sin w, 1 + c cos w) (Smith, "Physical Audio Signal Processing",
    first-order allpass).
    """
    phase = 2.0 * torch.atan2(coefficient * torch.sin(omega), 1.0 + coefficient * torch.cos(omega))
    return (omega - phase) / omega


def allpass1_group_delay(coefficient: Tensor, omega: Tensor) -> Tensor:
    """Group delay in samples of the first-order allpass: (1 - c^2) / (1 + 2c cos w + c^2)."""
    c = coefficient
    return (1.0 - c * c) / (1.0 + 2.0 * c * torch.cos(omega) + c * c)


def tuned_allpass(delta: Tensor, omega: Tensor) -> Tensor:
    """Coefficient of a first-order allpass whose phase delay at ``omega`` is exactly ``delta``.

    Solving -w*delta = -w + 2 atan2(c sin w, 1 + c cos w) for c gives
    c = sin((1 - delta) w / 2) / sin((1 + delta) w / 2); at low frequency this tends to the usual
    Thiran/Jaffe-Smith value (1 - delta) / (1 + delta), which is only exact at DC and is what
    leaves high notes of integer-tuned toolkits flat.
    """
    return torch.sin((1.0 - delta) * omega / 2.0) / torch.sin((1.0 + delta) * omega / 2.0)


def split_delay(total: Tensor) -> tuple[Tensor, Tensor]:
    """Split a delay into an integer part and a fractional part in [0.5, 1.5), the range where a
    first-order allpass interpolator stays well-behaved (Jaffe & Smith 1983)."""
    whole = torch.floor(total.detach() - 0.5)
    return whole, total - whole


def poly_mul(a: Tensor, b: Tensor) -> Tensor:
    """Product of polynomials in z^-1, row by row: ``[batch, m] x [batch, n] -> [batch, m+n-1]``.

    Meant for short filters (a loop's few coefficients, or a burst times a short filter);
    differentiable.
    """
    if a.shape[-1] > b.shape[-1]:
        a, b = b, a
    m = a.shape[-1]
    return sum(torch.nn.functional.pad(a[:, i : i + 1] * b, (i, m - 1 - i)) for i in range(m))


DC_POLE = 0.9995  # (1 - z^-1) / (1 - R z^-1): removes DC with a corner near 3.5 Hz at 44.1 kHz


def _rfft(signal: Tensor, size: int) -> Tensor:
    # Single-threaded, scipy's pocketfft is several times faster than torch's CPU FFT here;
    # torch is only needed when gradients flow (sound matching).
    if signal.requires_grad:
        return torch.fft.rfft(signal, n=size)
    return torch.from_numpy(scipy.fft.rfft(signal.numpy(), n=size))


def _irfft(spectrum: Tensor, size: int) -> Tensor:
    if spectrum.requires_grad:
        return torch.fft.irfft(spectrum, n=size)
    return torch.from_numpy(scipy.fft.irfft(spectrum.numpy(), n=size))


def render_loop(
    excitation: Tensor,
    numerator: Tensor,
    head: Tensor,
    tail: Tensor,
    delay: Tensor,
    *,
    samples: int,
) -> Tensor:
    """Output of the recursive filter ``B(z) / (A(z) + C(z) z^-N)`` driven by ``excitation``,
    followed by a DC blocker; ``[batch, samples]`` float64.

    Parameters
    ----------
    excitation : Tensor [batch, length]
    numerator, head, tail : Tensor [batch, k]
        Coefficients of B, A and C in powers of z^-1 (a few taps each).
    delay : Tensor [batch]
        Whole samples N (integer-valued).
    samples : int
        Output length.

    Notes
    -----
    A feedback loop of delay line and filters is linear and time-invariant, so its output is
    exactly X(z) B(z) / D(z). Both are evaluated with one FFT each on the circle |z| = r > 1
    (weighting coefficient n by r^-n): there the slowly decaying impulse response becomes a fast
    decaying one, so an FFT just longer than the output holds it without audible time aliasing
    (below 1/_WEIGHT_RANGE), and multiplying by r^n afterwards undoes the weighting. D(z) is
    sparse (taps near 0 and near N), so no per-sample loop and no per-bin evaluation of z^-N.
    """
    batch = excitation.shape[0]
    dc_num = torch.tensor([[1.0, -1.0]], dtype=torch.float64).expand(batch, 2)
    dc_den = torch.tensor([[1.0, -DC_POLE]], dtype=torch.float64).expand(batch, 2)
    numerator = poly_mul(numerator, dc_num)
    head, tail = poly_mul(head, dc_den), poly_mul(tail, dc_den)
    longest = int(delay.max().item()) + tail.shape[-1]
    size = scipy.fft.next_fast_len(max(samples, longest, excitation.shape[-1]) + 16, real=True)
    log_r = math.log(_WEIGHT_RANGE) / samples
    n = torch.arange(size, dtype=torch.float64)
    weight = torch.exp(-log_r * n)
    # Weighting by r^-n commutes with convolution, so a short burst is filtered in time and a
    # long excitation (a blown note) through one more FFT.
    if excitation.shape[-1] <= 4096:
        driven = poly_mul(excitation, numerator)[:, :size]
        spectrum = _rfft(driven * weight[: driven.shape[-1]], size)
    else:
        spectrum = _rfft(excitation[:, :size] * weight[: min(size, excitation.shape[-1])], size)
        spectrum = spectrum * _rfft(numerator * weight[: numerator.shape[-1]], size)

    where = delay.detach().long()[:, None] + torch.arange(tail.shape[-1])[None, :]
    denominator = torch.zeros(batch, size, dtype=torch.float64)
    denominator = denominator.scatter_add(1, where, tail)
    denominator = denominator + torch.nn.functional.pad(head, (0, size - head.shape[-1]))
    spectrum = spectrum / _rfft(denominator * weight, size)
    return _irfft(spectrum, size)[:, :samples] * torch.exp(log_r * n[:samples])


def finish(audio: Tensor, peak: float = 0.9) -> Tensor:
    """Remove the remaining mean and scale each note to ``peak``; differentiable."""
    audio = audio - audio.mean(dim=-1, keepdim=True)
    return audio * (peak / audio.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12))
