from synth_core.cli import main

raise SystemExit(main())
