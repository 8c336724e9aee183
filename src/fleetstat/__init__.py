"""fleetstat: agentless machine statistics over SSH."""

import warnings

__version__ = "0.1.0"

# asyncssh (2.24) still names DSA keys in its type hints, and cryptography 51 warns of
# DSA's deprecation the moment they are read: ten lines on stderr at every start, about
# keys fleetstat never uses. Only that warning, only from asyncssh's own modules.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh(\.|$)")
