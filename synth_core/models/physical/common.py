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


@dataclass(frozen=True)
class Grid:
    """The exponentially weighted FFT grid: ``zinv`` is z^-1 = e^-(log_r + jw) at each bin."""

    size: int
    samples: int
    log_r: float
    zinv: Tensor
    omega: Tensor
    roots: Tensor  # e^(-2 pi j m / size) for m in 0..size-1

    def delay(self, whole: Tensor) -> Tensor:
        """z^-N on the grid for a ``[batch]`` tensor of whole-sample delays: ``[batch, bins]``.

        On an FFT grid e^(-jwN) is a root of unity, so it is looked up rather than computed.
        Only whole delays are offered: an ideal fractional delay here would be non-causal and
        its sinc tails, wrapped round the FFT buffer, get amplified by the weighting.
        """
        n = whole.detach().long()
        k = torch.arange(self.omega.shape[0])
        phase = self.roots[(k[None, :] * n[:, None]) % self.size]
        return phase * torch.exp(-self.log_r * whole)[:, None]

    def weight(self, signal: Tensor) -> Tensor:
        """Spectrum of ``signal`` ``[batch, n]`` weighted by r^-n."""
        n = torch.arange(signal.shape[-1], dtype=torch.float64)
        weighted = signal * torch.exp(-self.log_r * n)
        if weighted.requires_grad:
            return torch.fft.rfft(weighted, n=self.size)
        return torch.from_numpy(scipy.fft.rfft(weighted.numpy(), n=self.size))

    def unweight(self, spectrum: Tensor) -> Tensor:
        """Time signal ``[batch, samples]`` from a weighted spectrum."""
        # Single-threaded, scipy's pocketfft is several times faster than torch's CPU FFT here;
        # torch is only needed when gradients flow (sound matching).
        if spectrum.requires_grad:
            signal = torch.fft.irfft(spectrum, n=self.size)[..., : self.samples]
        else:
            signal = torch.from_numpy(
                scipy.fft.irfft(spectrum.numpy(), n=self.size)[..., : self.samples]
            )
        n = torch.arange(self.samples, dtype=torch.float64)
        return signal * torch.exp(self.log_r * n)


_GRIDS: dict[tuple[int, int], Grid] = {}


def grid(samples: int, excitation: int) -> Grid:
    """The weighted FFT grid for an output of ``samples`` driven by ``excitation`` samples.

    A recursive loop filter is linear and time-invariant, so its output is exactly X(z) H(z).
    Evaluating both on the circle |z| = r > 1 (instead of the unit circle) turns the slowly
    decaying impulse response into a fast-decaying one, so a single FFT of modest length holds it
    without audible time aliasing; multiplying by r^n afterwards undoes the weighting.
    """
    size = 1 << max(8, math.ceil(math.log2(samples + excitation + 1)))
    key = (samples, size)
    cached = _GRIDS.get(key)
    if cached is None:
        log_r = math.log(_WEIGHT_RANGE) / samples
        omega = torch.arange(size // 2 + 1, dtype=torch.float64) * (2.0 * math.pi / size)
        zinv = torch.exp(torch.complex(torch.full_like(omega, -log_r), -omega))
        angle = torch.arange(size, dtype=torch.float64) * (-2.0 * math.pi / size)
        roots = torch.polar(torch.ones_like(angle), angle)
        cached = Grid(size, samples, log_r, zinv, omega, roots)
        if len(_GRIDS) > 16:
            _GRIDS.clear()
        _GRIDS[key] = cached
    return cached


def dc_blocker(zinv: Tensor, pole: float = 0.9995) -> Tensor:
    """(1 - z^-1) / (1 - R z^-1): removes DC with a corner near 3.5 Hz at 44.1 kHz."""
    return (1.0 - zinv) / (1.0 - pole * zinv)


def finish(audio: Tensor, peak: float = 0.9) -> Tensor:
    """Remove the remaining mean and scale each note to ``peak``; differentiable."""
    audio = audio - audio.mean(dim=-1, keepdim=True)
    return audio * (peak / audio.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12))
