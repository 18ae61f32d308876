"""The physical instruments as standalone TorchScript modules.

``decode`` (and ``forward``, the same) takes the instrument's controls, in each control's unit
and in the order of ``model.controls()``, one frame per note, and renders each note as
``model.generate(values, seed=seed)`` does: the same equations, rebuilt here from torch
operations TorchScript compiles (the app's renderers take a ``torch.Generator``, use SciPy's FFT
and Bessel functions, and pass parameters as Python mappings, none of which a scripted module can
hold). The random parts of a note (a pluck's noise, breath turbulence, per-mode level jitter, a
mallet's click, snare wires) are drawn once at export from the seed, exactly as the app draws
them for one note, and kept as buffers: every note of the export uses the noise of that seed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import scipy.fft
import torch
from torch import Tensor

# the submodules themselves: importing the package would import model.py, which imports this
import synth_core.models.physical.common as common
import synth_core.models.physical.modal as modal
import synth_core.models.physical.strings as strings
import synth_core.models.physical.tube as tube
from synth_core.model_export.nn_tilde import NNTildeModule, frames_to_rows, rows_to_audio
from synth_core.models.base import seeded_generator

if TYPE_CHECKING:
    from synth_core.models.physical import PhysicalModel

MODAL = ("bar", "marimba", "bell", "membrane")
CLICK = {"bar": 0.02, "marimba": 0.03, "bell": 0.01, "membrane": 0.02}


def _midi_to_hz(midi: Tensor) -> Tensor:
    return 440.0 * torch.pow(2.0, (midi - 69.0) / 12.0)


def _atan(x: Tensor) -> Tensor:
    """arctan in float64 from + − × ÷ and square roots (ONNX Runtime has no float64 Atan):
    two half-angle reductions bring |x| under tan(π/16) ≈ 0.2, where 12 terms of the Taylor
    series are exact to float64 rounding."""
    x = x / (1.0 + torch.sqrt(1.0 + x * x))
    x = x / (1.0 + torch.sqrt(1.0 + x * x))
    square = x * x
    total = torch.zeros_like(x)
    for k in range(11, -1, -1):  # Horner, from the highest term down
        total = (1.0 if k % 2 == 0 else -1.0) / (2 * k + 1) + square * total
    return 4.0 * x * total


def _atan2(y: Tensor, x: Tensor) -> Tensor:
    """atan2 for x > 0, the only case the instruments meet (1 + c cos ω with |c| < 1)."""
    return _atan(y / x)


def _cosh_sinh(x: Tensor) -> tuple[Tensor, Tensor]:
    """cosh and sinh from exp (ONNX Runtime has no float64 Cosh or Sinh)."""
    up, down = torch.exp(x), torch.exp(-x)
    return (up + down) / 2.0, (up - down) / 2.0


def _allpass_phase_delay(c: Tensor, omega: Tensor) -> Tensor:
    phase = 2.0 * _atan2(c * torch.sin(omega), 1.0 + c * torch.cos(omega))
    return (omega - phase) / omega


def _allpass_group_delay(c: Tensor, omega: Tensor) -> Tensor:
    return (1.0 - c * c) / (1.0 + 2.0 * c * torch.cos(omega) + c * c)


def _tuned_allpass(delta: Tensor, omega: Tensor) -> Tensor:
    return torch.sin((1.0 - delta) * omega / 2.0) / torch.sin((1.0 + delta) * omega / 2.0)


def _poly_mul(a: Tensor, b: Tensor) -> Tensor:
    if a.shape[-1] > b.shape[-1]:
        a, b = b, a
    m = a.shape[-1]
    out = torch.nn.functional.pad(a[:, 0:1] * b, [0, m - 1])
    for i in range(1, m):
        out = out + torch.nn.functional.pad(a[:, i : i + 1] * b, [i, m - 1 - i])
    return out


def _rfft(signal: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Real FFT as real and imaginary parts (ONNX has no complex tensors)."""
    spectrum = torch.view_as_real(torch.fft.rfft(signal, n=size))
    return spectrum[..., 0], spectrum[..., 1]


def _render_loop(
    excitation: Tensor, numerator: Tensor, head: Tensor, tail: Tensor, delay: Tensor,
    samples: int, size: int, dc_pole: float, weight_range: float,
) -> Tensor:  # fmt: skip
    """:func:`synth_core.models.physical.common.render_loop` with torch's FFT, on real and
    imaginary parts, at an FFT ``size`` fixed at export (the app's own for every note whose
    loop and excitation fit in the clip, as they do from 0.07 s up)."""
    batch = excitation.shape[0]
    dc_num = torch.tensor([[1.0, -1.0]], dtype=torch.float64).expand(batch, 2)
    dc_den = torch.tensor([[1.0, -dc_pole]], dtype=torch.float64).expand(batch, 2)
    numerator = _poly_mul(numerator, dc_num)
    head, tail = _poly_mul(head, dc_den), _poly_mul(tail, dc_den)
    log_r = math.log(weight_range) / samples
    n = torch.arange(size, dtype=torch.float64)
    weight = torch.exp(-log_r * n)
    if excitation.shape[-1] <= 4096:
        driven = _poly_mul(excitation, numerator)[:, :size]
        real, imag = _rfft(driven * weight[: driven.shape[-1]], size)
    else:
        length = min(size, excitation.shape[-1])
        real, imag = _rfft(excitation[:, :size] * weight[:length], size)
        num_real, num_imag = _rfft(numerator * weight[: numerator.shape[-1]], size)
        real, imag = real * num_real - imag * num_imag, real * num_imag + imag * num_real
    where = delay.long()[:, None] + torch.arange(tail.shape[-1])[None, :]
    denominator = torch.zeros(batch, size, dtype=torch.float64).scatter_add(1, where, tail)
    denominator = denominator + torch.nn.functional.pad(head, [0, size - head.shape[-1]])
    den_real, den_imag = _rfft(denominator * weight, size)
    norm = den_real * den_real + den_imag * den_imag
    real, imag = (
        (real * den_real + imag * den_imag) / norm,
        (imag * den_real - real * den_imag) / norm,
    )
    spectrum = torch.view_as_complex(torch.stack([real, imag], dim=-1))
    return torch.fft.irfft(spectrum, n=size)[:, :samples] * torch.exp(log_r * n[:samples])


def _bessel_j(order: Tensor, inverse_factorial: Tensor, x: Tensor) -> Tensor:
    """J_m(x) by its power series (40 terms: exact to ~1e-13 for x ≤ 10, the drum's range);
    ``inverse_factorial`` is 1 / m!."""
    half = x / 2.0
    term = torch.pow(half, order) * inverse_factorial
    total = term
    for k in range(1, 40):
        term = -term * half * half / (k * (k + order))
        total = total + term
    return total


class PhysicalExport(NNTildeModule):
    """One physical instrument in nn~'s layout: ``decode`` / ``forward`` map ``[batch, k,
    frames]`` control values to ``[batch, 1, frames · clip_samples]`` audio."""

    def __init__(self, model: PhysicalModel, seed: int = 0) -> None:
        super().__init__(model.sample_rate)
        instrument = model.instrument
        controls = model.controls()
        self.kind = instrument.name
        self.names = [c.name for c in controls]
        self.seed = int(seed)
        self.clip_samples = int(model.config.clip_samples)
        self.dc_pole = float(common.DC_POLE)
        self.weight_range = float(common._WEIGHT_RANGE)
        self.block = int(modal.BLOCK)
        self.glide_time = float(modal.GLIDE_TIME)
        self.click = float(CLICK.get(self.kind, 0.0))
        self.string_min_period = float(strings.MIN_PERIOD)
        self.tube_min_period = float(tube.MIN_PERIOD)
        self.bore_t60 = float(tube.BORE_T60)
        self.release = float(tube.RELEASE)
        f64 = torch.float64
        self.register_buffer("minimum", torch.tensor([c.minimum for c in controls], dtype=f64))
        self.register_buffer("maximum", torch.tensor([c.maximum for c in controls], dtype=f64))
        self.register_buffer("is_log", torch.tensor([c.curve == "log" for c in controls]))
        # the modes (as the app's renderers build them, dtype conversions included)
        ratios, betas, levels = torch.zeros(0, dtype=f64), torch.zeros(0, dtype=f64), None
        orders, zeros = torch.zeros(0, dtype=f64), torch.zeros(0, dtype=f64)
        if self.kind == "bar":
            ratios, betas = torch.tensor(modal.BAR_RATIOS, dtype=f64), modal.BAR_BETAS
        elif self.kind == "marimba":
            ratios, betas = torch.tensor(modal.MARIMBA_RATIOS, dtype=f64), modal.BAR_BETAS[:3]
        elif self.kind == "bell":
            ratios = torch.tensor(modal.BELL_RATIOS, dtype=f64)
            levels = torch.tensor(modal.BELL_LEVELS, dtype=f64)
        elif self.kind == "membrane":
            first = modal.MEMBRANE_MODES[0][2]
            ratios = torch.tensor([mode[2] / first for mode in modal.MEMBRANE_MODES]).to(f64)
            orders = torch.tensor([float(mode[0]) for mode in modal.MEMBRANE_MODES], dtype=f64)
            zeros = torch.tensor([mode[2] for mode in modal.MEMBRANE_MODES], dtype=f64)
        self.register_buffer("ratios", ratios)
        self.register_buffer("betas", torch.tensor(betas, dtype=f64) if len(betas) else betas)
        self.register_buffer("levels", levels if levels is not None else torch.zeros(0, dtype=f64))
        self.register_buffer("orders", orders)
        self.register_buffer(
            "inverse_factorial",
            torch.tensor([1.0 / math.factorial(int(m)) for m in orders.tolist()], dtype=f64),
        )
        self.register_buffer("zeros", zeros)
        # the noise one note of this seed draws, in the order the app draws it
        generator = seeded_generator(seed)
        rate, samples = self.sample_rate, self.clip_samples
        empty = torch.zeros(0, dtype=f64)
        pluck = breath = jitter = click = snare = empty
        # the longest period (lowest note) bounds the pluck, its comb and the loop's delay
        lowest = rate / float(common.midi_to_hz(torch.tensor(common.PITCH.minimum, dtype=f64)))
        self.max_burst = math.ceil(lowest) + 1
        self.comb_length = self.max_burst + self.max_burst // 2 + 3
        longest = self.max_burst + 16  # the delay plus the loop filters' taps
        self.fft_size = int(
            scipy.fft.next_fast_len(max(samples, longest, self.comb_length) + 16, real=True)
        )
        if self.kind == "string":
            pluck = torch.rand(1, self.max_burst, generator=generator, dtype=f64)[0]
        elif self.kind == "tube":
            breath = torch.randn(1, samples, generator=generator).double()[0]
        elif self.kind in MODAL:
            jitter = torch.exp(
                0.12 * torch.randn((1, len(ratios)), generator=generator, dtype=f64)
            )[0]
            length = min(samples, max(2, int(0.003 * rate)))
            click = torch.randn(1, length + 1, generator=generator, dtype=f64)[0]
            if self.kind == "membrane":
                length = min(samples, max(2, int(0.25 * rate)))
                snare = torch.randn(1, length + 1, generator=generator, dtype=f64)[0]
        for name, noise in (("pluck_noise", pluck), ("breath_noise", breath),
                            ("mode_jitter", jitter), ("click_noise", click),
                            ("snare_noise", snare)):  # fmt: skip
            self.register_buffer(name, noise)
        labels = [f"(signal) {c.label}" + (f", {c.unit}" if c.unit else "") for c in controls]
        audio_label = [f"(signal) audio, {rate} Hz"]
        for method in ("decode", "forward"):
            self.register_method(
                method, in_channels=len(controls), in_ratio=samples, out_channels=1,
                out_ratio=1, input_labels=labels, output_labels=audio_label,
            )  # fmt: skip

    def example_input(self) -> Tensor:
        """One note at the controls' lower ends."""
        return self.minimum.float()[None, :, None].clone()

    def export_notes(self) -> list[str]:
        return [
            f"decode and forward: [batch, {len(self.names)}, frames] control values "
            f"({', '.join(self.names)}, in each control's unit) -> "
            f"[batch, 1, frames x {self.clip_samples}] audio at {self.sample_rate} Hz",
            f"every note carries the noise the app draws for one note with seed {self.seed}",
            f"in nn~, give no buffer size: it then runs one note ({self.clip_samples} samples) "
            "per buffer",
        ]

    # controls ----------------------------------------------------------------------------------

    def params(self, values: Tensor) -> dict[str, Tensor]:
        """Control values ``[n, k]`` → parameters by name, float64, through the 0–1 slider
        position as ``PhysicalModel.generate`` passes them (clamped, rounded to float32)."""
        v = torch.minimum(torch.maximum(values.double(), self.minimum), self.maximum)
        ratio = self.maximum / self.minimum.clamp_min(1e-300)
        log_position = torch.log(v / self.minimum.clamp_min(1e-300)) / torch.log(ratio)
        linear = (v - self.minimum) / (self.maximum - self.minimum)
        position = torch.where(self.is_log, log_position, linear).float().double().clamp(0.0, 1.0)
        log_value = self.minimum * torch.pow(ratio, position)
        linear_value = self.minimum + position * (self.maximum - self.minimum)
        value = torch.where(self.is_log, log_value, linear_value)
        out: dict[str, Tensor] = {}
        for i, name in enumerate(self.names):
            out[name] = value[:, i]
        return out

    # instruments -------------------------------------------------------------------------------

    def _string(self, p: dict[str, Tensor], samples: int) -> Tensor:
        rate = float(self.sample_rate)
        f0 = _midi_to_hz(p["pitch"]).clamp_max(rate / self.string_min_period)
        period = rate / f0
        omega = 2.0 * math.pi / period
        one_minus_cos = 1.0 - torch.cos(omega)
        sections = 4
        room = ((period - 3.0) / sections).clamp_min(1.0)
        c_disp = -torch.minimum(0.7 * p["stiffness"], (room - 1.0) / (room + 1.0))
        loop_phase_delay = 1.0 + sections * _allpass_phase_delay(c_disp, omega)
        total = period - loop_phase_delay
        whole = torch.floor(total - 0.5)
        delta = total - whole
        c_frac = _tuned_allpass(delta, omega)
        group_delay = (
            whole + 1.0 + sections * _allpass_group_delay(c_disp, omega)
            + _allpass_group_delay(c_frac, omega)
        )  # fmt: skip
        ln_1000 = 3.0 * math.log(10.0)
        per_loop = torch.exp(-ln_1000 * group_delay / (p["decay"] * rate))
        a_max = (1.0 - per_loop / 0.99995) / (2.0 * one_minus_cos)
        a = torch.minimum(0.25 * (1.0 - p["brightness"]), a_max).clamp_min(0.0)
        gain = per_loop / (1.0 - 2.0 * a * one_minus_cos)
        # the pluck: raised-cosine pulse plus one period of the stored noise, over the longest
        # burst any note needs (zero past its own, ceil(period), as the app's burst ends there)
        n = torch.arange(self.max_burst, dtype=torch.float64)[None, :]
        burst = torch.ceil(period)[:, None]
        width = (period * p["pick_position"]).clamp_min(2.0)[:, None]
        pulse = torch.where(
            n < width, 0.5 - 0.5 * torch.cos(2.0 * math.pi * n / width), torch.zeros_like(n)
        )
        noise = (self.pluck_noise - 0.5)[None, :] * (n < period[:, None])
        noise = noise - noise.sum(dim=-1, keepdim=True) / burst
        excitation = (pulse + 0.2 * noise) * (n < burst)
        # the pick position's comb, over a length that holds every note's
        delay = p["pick_position"] * period
        comb_whole = torch.floor(delay)
        frac = (delay - comb_whole)[:, None]
        length = self.comb_length
        padded = torch.nn.functional.pad(excitation, [0, length - excitation.shape[-1]])
        index = torch.arange(length)[None, :] - comb_whole.long()[:, None]
        earlier = padded.gather(-1, index.clamp_min(0)) * (index >= 0)
        earliest = padded.gather(-1, (index - 1).clamp_min(0)) * (index >= 1)
        excitation = padded - (1.0 - frac) * earlier - frac * earliest
        ones = torch.ones_like(a)
        disp_num = torch.stack([c_disp, ones], -1)
        disp_den = torch.stack([ones, c_disp], -1)
        frac_num = torch.stack([c_frac, ones], -1)
        frac_den = torch.stack([ones, c_frac], -1)
        loop_filter = torch.stack([a, 1.0 - 2.0 * a, a], -1) * gain[:, None]
        disp_num = _poly_mul(_poly_mul(disp_num, disp_num), _poly_mul(disp_num, disp_num))
        disp_den = _poly_mul(_poly_mul(disp_den, disp_den), _poly_mul(disp_den, disp_den))
        head = _poly_mul(disp_den, frac_den)
        tail = -_poly_mul(_poly_mul(loop_filter, disp_num), frac_num)
        return _render_loop(
            excitation,
            head,
            head,
            tail,
            whole,
            samples,
            self.fft_size,
            self.dc_pole,
            self.weight_range,
        )

    def _tube(self, p: dict[str, Tensor], samples: int) -> Tensor:
        rate = float(self.sample_rate)
        ln_1000 = 3.0 * math.log(10.0)
        f0 = _midi_to_hz(p["pitch"]).clamp_max(rate / self.tube_min_period)
        period = rate / f0
        n = torch.arange(samples, dtype=torch.float64)
        t = n[None, :] / rate
        depth = (torch.pow(2.0, p["vibrato"] / 1200.0) - 1.0)[:, None]
        vibrato_rate = p["vibrato_rate"][:, None]
        wobble = (
            depth * (1.0 - torch.cos(2.0 * math.pi * vibrato_rate * t))
            / (2.0 * math.pi * vibrato_rate)
        )  # fmt: skip
        phase = 2.0 * math.pi * f0[:, None] * (t + wobble)
        attack, hold = p["attack"][:, None], p["hold"][:, None]
        rise = 0.5 - 0.5 * torch.cos(math.pi * (t / attack).clamp(0.0, 1.0))
        envelope = rise * torch.exp(-ln_1000 * ((t - hold).clamp_min(0.0) / self.release))
        pressure = p["pressure"][:, None]
        drive = 1.0 + 8.0 * pressure
        flow = torch.tanh(drive * envelope * torch.sin(phase)) / torch.tanh(drive)
        noise = self.breath_noise[None, :samples]
        turbulence = p["noise"][:, None] * envelope * (0.6 + 0.4 * flow) * noise * 0.3
        excitation = flow * (0.4 + 0.6 * pressure) + turbulence
        omega = 2.0 * math.pi / period
        q = 0.7 * (1.0 - p["brightness"])
        bell_phase_delay = _atan2(q * torch.sin(omega), 1.0 - q * torch.cos(omega)) / omega
        total = period / 2.0 - bell_phase_delay
        whole = torch.floor(total - 0.5)
        c_frac = _tuned_allpass(total - whole, omega)
        bell_group_delay = q * (torch.cos(omega) - q) / (1.0 - 2.0 * q * torch.cos(omega) + q * q)
        group_delay = whole + bell_group_delay + _allpass_group_delay(c_frac, omega)
        bell_gain = (1.0 - q) / torch.sqrt(1.0 - 2.0 * q * torch.cos(omega) + q * q)
        gain = torch.exp(-ln_1000 * group_delay / (self.bore_t60 * rate)) / bell_gain
        gain = gain.clamp_max(0.9999)
        ones = torch.ones_like(q)
        head = _poly_mul(torch.stack([ones, -q], -1), torch.stack([ones, c_frac], -1))
        tail = torch.stack([c_frac, ones], -1) * (gain * (1.0 - q))[:, None]
        return _render_loop(
            excitation,
            head,
            head,
            tail,
            whole,
            samples,
            self.fft_size,
            self.dc_pole,
            self.weight_range,
        )

    def _burst(self, noise: Tensor, level: Tensor, samples: int) -> Tensor:
        """A stored noise burst, first-differenced and decaying, at ``level`` ``[n]``."""
        length = noise.shape[0] - 1
        ln_1000 = 3.0 * math.log(10.0)
        envelope = torch.exp(-ln_1000 * torch.arange(length, dtype=torch.float64) / length)
        burst = ((noise[1:] - noise[:-1]) * envelope)[None, :] * level[:, None]
        return torch.nn.functional.pad(burst, [0, samples - length])

    def _modal_sum(
        self, freq: Tensor, t60: Tensor, amplitude: Tensor, samples: int, glide: Tensor,
        has_glide: bool,
    ) -> Tensor:  # fmt: skip
        """:func:`synth_core.models.physical.modal.modal_sum` on real and imaginary parts."""
        rate = float(self.sample_rate)
        batch = freq.shape[0]
        audible = (freq < 0.45 * rate).to(torch.float64)
        omega = 2.0 * math.pi * freq / rate
        alpha = 3.0 * math.log(10.0) / (t60 * rate)
        amp_real, amp_imag = amplitude * audible, torch.zeros_like(amplitude)
        tau = self.glide_time * rate
        if has_glide:
            turn = omega * glide[:, None] * tau
            amp_real, amp_imag = amp_real * torch.cos(turn), amp_real * torch.sin(turn)
        block = self.block
        blocks = -(-samples // block)
        i = torch.arange(block, dtype=torch.float64)
        b = torch.arange(blocks, dtype=torch.float64) * block
        # inner: e^{s i} [batch, K, BLOCK]; outer: amp · e^{s b} [batch, blocks, K]
        inner_decay = torch.exp(-alpha[:, :, None] * i)
        inner_real = inner_decay * torch.cos(omega[:, :, None] * i)
        inner_imag = inner_decay * torch.sin(omega[:, :, None] * i)
        outer_decay = torch.exp(-alpha[:, None, :] * b[None, :, None])
        e_real = outer_decay * torch.cos(omega[:, None, :] * b[None, :, None])
        e_imag = outer_decay * torch.sin(omega[:, None, :] * b[None, :, None])
        outer_real = amp_real[:, None, :] * e_real - amp_imag[:, None, :] * e_imag
        outer_imag = amp_real[:, None, :] * e_imag + amp_imag[:, None, :] * e_real
        audio = torch.matmul(outer_real, inner_imag) + torch.matmul(outer_imag, inner_real)
        audio = audio.reshape(batch, blocks * block)[:, :samples]
        if has_glide:
            early_blocks = min(blocks, -(-int(7.0 * tau) // block))
            early = early_blocks * block
            n = torch.arange(early, dtype=torch.float64)
            lag = -torch.exp(-n / tau)[None, None, :] * tau * glide[:, None, None]
            extra = (omega[:, :, None] * lag).float()
            head_real = outer_real[:, :early_blocks, :].transpose(1, 2).float()[..., None]
            head_imag = outer_imag[:, :early_blocks, :].transpose(1, 2).float()[..., None]
            in_real = inner_real.float()[:, :, None, :]
            in_imag = inner_imag.float()[:, :, None, :]
            ring_real = (head_real * in_real - head_imag * in_imag).reshape(batch, -1, early)
            ring_imag = (head_real * in_imag + head_imag * in_real).reshape(batch, -1, early)
            turn_real, turn_imag = torch.cos(extra) - 1.0, torch.sin(extra)
            correction = (ring_real * turn_imag + ring_imag * turn_real).sum(dim=1)
            early = min(early, samples)
            audio = torch.cat(
                [audio[:, :early] + correction[:, :early].double(), audio[:, early:]], -1
            )
        return audio

    def _modal(self, p: dict[str, Tensor], samples: int) -> Tensor:
        position = p["position"]
        ratios = self.ratios
        if self.kind == "bell":
            shape = self.levels[None, :] * torch.pow(ratios[None, :], -position[:, None])
        elif self.kind == "membrane":
            radius = position[:, None]
            shape = _bessel_j(
                self.orders[None, :], self.inverse_factorial[None, :], self.zeros[None, :] * radius
            )
            shape = shape * torch.where(self.orders == 0, 1.0, 0.5)[None, :]
        else:
            beta = self.betas
            cosh_beta, sinh_beta = _cosh_sinh(beta)
            sigma = (cosh_beta - torch.cos(beta)) / (sinh_beta - torch.sin(beta))
            bx = beta[None, :] * position[:, None]
            cosh_bx, sinh_bx = _cosh_sinh(bx)
            shape = (cosh_bx + torch.cos(bx) - sigma * (sinh_bx + torch.sin(bx))) / 2.0
        f1 = _midi_to_hz(p["pitch"])[:, None]
        freq = f1 * ratios[None, :]
        t60 = p["decay"][:, None] * torch.pow(ratios[None, :], -p["damping"][:, None])
        hardness = p["hardness"]
        corner = 300.0 * torch.pow(60.0, hardness)[:, None]
        mallet = torch.exp(-(freq**2 - freq[:, :1] ** 2) / corner**2)
        amplitude = shape * mallet * self.mode_jitter[None, :]
        membrane = self.kind == "membrane"
        glide = torch.zeros_like(hardness)
        if membrane:
            glide = torch.pow(2.0, p["tension"] / 12.0) - 1.0
        audio = self._modal_sum(freq, t60, amplitude, samples, glide, membrane)
        level = self.click * hardness * amplitude.abs().sum(dim=-1)
        audio = audio + self._burst(self.click_noise, level, samples)
        if membrane:
            loudest = audio.abs().amax(dim=-1).clamp_min(1e-9)
            audio = audio + self._burst(self.snare_noise, p["snare"] * loudest, samples)
        return audio

    def render(self, values: Tensor) -> Tensor:
        """Control values ``[n, k]`` → notes ``[n, clip_samples]`` float32, peak 0.9, no DC."""
        p = self.params(values)
        samples = self.clip_samples
        if self.kind == "string":
            audio = self._string(p, samples)
        elif self.kind == "tube":
            audio = self._tube(p, samples)
        else:
            audio = self._modal(p, samples)
        audio = audio - audio.mean(dim=-1, keepdim=True)
        return (audio * (0.9 / audio.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12))).float()

    # nn~ methods -------------------------------------------------------------------------------

    @torch.jit.export
    def decode(self, x: Tensor) -> Tensor:
        return rows_to_audio(self.render(frames_to_rows(x)), x.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(x)


def physical_export(model: PhysicalModel, seed: int = 0) -> PhysicalExport:
    """The standalone module of a physical model's sliders (its dominant instrument)."""
    return PhysicalExport(model, seed=seed)
