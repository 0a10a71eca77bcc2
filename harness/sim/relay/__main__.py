"""``python -m harness.sim.relay --config /etc/malina/relay.json``: the relay switch container's process."""

from harness.sim.relay.agent import main

raise SystemExit(main())
