"""Entry point of the packaged app: the ``timbrelab`` command (no command opens the window)."""

from app.launcher import main

raise SystemExit(main())
