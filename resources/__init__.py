"""Files shipped with Timbre Lab: starter models, icons and the Qt style sheet.

Installed as the package ``timbrelab_resources`` so that a wheel carries them; code finds the
folder with :func:`synth_core.paths.resources_dir`.
"""
