"""The physical family: instruments that play in tune without training, and sound matching.

``instrument_model("physical:string")`` gives a playable model of one instrument;
``PhysicalModel`` with ``instrument="auto"`` learns, for each clip of a folder, which instrument
and which settings reproduce it best.
"""

from __future__ import annotations

from synth_core.models import Family, register
from synth_core.models.physical.model import (
    INSTRUMENT_TABLE,
    INSTRUMENTS,
    PhysicalConfig,
    PhysicalModel,
    instrument_model,
)

__all__ = [
    "INSTRUMENTS",
    "INSTRUMENT_TABLE",
    "PhysicalConfig",
    "PhysicalModel",
    "instrument_model",
]

register(
    Family(
        name="physical",
        title="Physical models",
        summary=(
            "Plucked string, struck bar, marimba, bell, drum and blown tube, played in tune; "
            "training fits their parameters to your sounds"
        ),
        good_for="plucks, mallets, bells, drums and wind notes; playable before any training",
        model_class=PhysicalModel,
    )
)
