"""Standalone modules for ``timbrelab export-model``: each family's decoder rebuilt from plain
torch operations, so that TorchScript can compile it and a host without Timbre Lab (Max/Pd's nn~,
a C++ program, a Python script with torch alone) can play it.

Every exported module follows nn~'s layout (:mod:`~synth_core.model_export.nn_tilde`): methods
take and return ``[batch, channels, time]`` float32 signals and are listed, with their channel
counts, time ratios and labels, where nn~ looks for them. A family offers its module through
``SoundModel.export_module()``; :func:`synth_core.model_export.save.export_model` scripts and saves it.
"""
