"""The ``timbrelab`` command: with no command it opens the window, otherwise it runs the core CLI.

It lives in ``app`` because ``synth_core`` never imports ``app`` (DESIGN.md): on a server
without Qt every command still runs as ``python -m synth_core COMMAND``, and only an empty command
line reaches for the desktop application. Nothing here imports Qt before it is needed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

VERBOSE_FLAGS = ("-v", "--verbose")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if all(arg in VERBOSE_FLAGS for arg in args):
        logging.basicConfig(
            level=logging.INFO if args else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        from app.main import main as app_main

        return app_main()
    from synth_core.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
