"""Entry point of the packaged app: the ``timbrelab`` command (no command opens the window)."""

from synth_core.cli import main

raise SystemExit(main())
