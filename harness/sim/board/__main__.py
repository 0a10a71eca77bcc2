"""``python -m harness.sim.board --config /etc/malina/board.json``: the board container's main process."""

from harness.sim.board.controller import main

raise SystemExit(main())
