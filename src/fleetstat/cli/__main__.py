"""``python -m fleetstat.cli``: the same as the ``fleetstat`` command."""

from fleetstat.cli import main

raise SystemExit(main())
