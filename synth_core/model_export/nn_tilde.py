"""The layout Max/Pd's nn~ expects of a TorchScript module, written out here.

The ``nn-tilde`` package on PyPI provides a base class for this, but its 1.6.0 release pins
``torch==2.5`` (and pulls in ``cached_conv``), so it cannot be installed beside this project's
torch. What nn~ reads from a scripted module, and what :class:`NNTildeModule` therefore holds:

- ``get_methods() -> List[str]``: the methods it may call (``forward``, ``decode``, ``encode``);
- for each method ``M``, a buffer ``M_params`` ``[in_channels, in_ratio, out_channels,
  out_ratio]`` (int64) and attributes ``M_input_labels`` / ``M_output_labels`` (one label per
  channel, shown on the object's inlets and outlets);
- ``get_attributes() -> List[str]`` and ``get_buffer_attributes() -> List[str]`` (settable
  attributes; none here), ``get_sample_rate() -> int``.

A method takes ``[batch, in_channels, T / in_ratio]`` float32 and returns ``[batch, out_channels,
T / out_ratio]`` for a host buffer of ``T`` samples (nn~ feeds each input channel's last sample of
every ``in_ratio`` and repeats each output frame ``out_ratio`` times). A one-shot decoder that
renders one clip of ``clip_samples`` per control frame is therefore registered with ``in_ratio =
clip_samples`` and ``out_ratio = 1``. nn~ runs with a buffer of the largest ratio when none is
given, one clip here: that is the setting to use, since a larger buffer is rounded up to a power
of two, which a clip of 44100 samples does not divide.
"""

from collections.abc import Sequence
from typing import List  # noqa: UP035 (TorchScript reads typing.List annotations)

import torch
from torch import nn


class NNTildeModule(nn.Module):
    """Base of every exported module: the registry of methods and the sample rate nn~ reads.

    ``sample_rate`` (Hz) is a plain int attribute of the scripted module, also returned by
    ``get_sample_rate()``.
    """

    _methods: List[str]  # noqa: UP006
    _attributes: List[str]  # noqa: UP006
    _buffer_attributes: List[str]  # noqa: UP006
    sample_rate: int

    def __init__(self, sample_rate: int) -> None:
        super().__init__()
        self._methods = []
        self._attributes = []
        self._buffer_attributes = []
        self.sample_rate = int(sample_rate)

    def register_method(
        self,
        name: str,
        *,
        in_channels: int,
        in_ratio: int,
        out_channels: int,
        out_ratio: int,
        input_labels: Sequence[str],
        output_labels: Sequence[str],
        test_samples: int | None = None,
    ) -> None:
        """List method ``name`` for nn~ and check, by one call on zeros over a host buffer of
        ``test_samples`` (default ``max(in_ratio, out_ratio)``) samples, that it returns the
        shape registered, float32."""
        if len(input_labels) != in_channels or len(output_labels) != out_channels:
            raise ValueError(f"method {name}: one label per channel is needed")
        self.register_buffer(
            f"{name}_params",
            torch.tensor([in_channels, in_ratio, out_channels, out_ratio], dtype=torch.long),
        )
        setattr(self, f"{name}_input_labels", list(input_labels))
        setattr(self, f"{name}_output_labels", list(output_labels))
        host = test_samples or max(in_ratio, out_ratio)
        with torch.no_grad():
            out = getattr(self, name)(torch.zeros(1, in_channels, host // in_ratio))
        expected = (1, out_channels, host // out_ratio)
        if tuple(out.shape) != expected or out.dtype != torch.float32:
            raise ValueError(
                f"method {name} returned {tuple(out.shape)} {out.dtype}, expected {expected} float32"
            )
        self._methods.append(name)

    def example_input(self) -> torch.Tensor:
        """One frame of ``decode``'s input (what ONNX export traces with)."""
        in_channels = int(self.decode_params[0])
        return torch.zeros(1, in_channels, 1)

    def onnx_blocker(self) -> str:
        """Why ``decode`` cannot be written as ONNX, in a few words; empty when it can."""
        return ""

    def export_notes(self) -> list[str]:
        """What a user of the export should know (what the methods take, what differs from
        the app), for the sidecar."""
        return []

    @torch.jit.export
    def get_methods(self) -> List[str]:  # noqa: UP006
        return self._methods

    @torch.jit.export
    def get_attributes(self) -> List[str]:  # noqa: UP006
        return self._attributes

    @torch.jit.export
    def get_buffer_attributes(self) -> List[str]:  # noqa: UP006
        return self._buffer_attributes

    @torch.jit.export
    def get_sample_rate(self) -> int:
        return self.sample_rate


def frames_to_rows(x: torch.Tensor) -> torch.Tensor:
    """``[batch, channels, frames]`` → ``[batch · frames, channels]``: one row per clip."""
    return x.permute(0, 2, 1).reshape(-1, x.shape[1])


def rows_to_audio(audio: torch.Tensor, batch: int) -> torch.Tensor:
    """``[batch · frames, samples]`` → ``[batch, 1, frames · samples]``: the clips in a row."""
    return audio.reshape(batch, 1, -1)


class DecodeOnly(nn.Module):
    """``module.decode`` as a module's ``forward``: what ONNX export writes."""

    def __init__(self, module: NNTildeModule) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.decode(x)
