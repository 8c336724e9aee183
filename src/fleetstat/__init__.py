"""fleetstat: agentless machine statistics over SSH."""

__version__ = "0.1.0"
