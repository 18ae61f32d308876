"""``timbrelab bench``: speed and memory numbers, printed, never asserted.

One module per subject, all measured with the helpers of :mod:`~synth_core.benchmarks.measure`
so numbers from different subjects mean the same thing:

- :mod:`~synth_core.benchmarks.families`: every family's generation real-time factor, slider
  latency and training step time, and :func:`~synth_core.benchmarks.families.run_bench`;
- :mod:`~synth_core.benchmarks.physical`: the physical instruments' speed, the cost of sound
  matching, and the pitch and decay estimators their accuracy is measured with;
- :mod:`~synth_core.benchmarks.slider`: slider → sound latency of the models the app opens;
- :mod:`~synth_core.benchmarks.notes`: note-on → sound latency, cached and uncached;
- :mod:`~synth_core.benchmarks.app_launch`: the app's launch, first sound and idle memory,
  measured on a real start of the app in another process;
- :mod:`~synth_core.benchmarks.maps`: the sound map's redraw time at 10 000 points (in a child
  process, as Qt is needed) and its feature and layout times at 1 000 and 10 000 clips;
- :mod:`~synth_core.benchmarks.compare`: reports saved as JSON and compared with older ones;
- the ``timbrelab bench`` command that runs them is :mod:`synth_core.commands.bench`.

Nothing in the library imports this package, so measuring code never sits on a model's path.
"""
