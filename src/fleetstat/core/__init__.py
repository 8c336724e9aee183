"""The core: typed values, the metrics table, errors and bounds.

Everything else builds on these; nothing here imports any other part of fleetstat, does
I/O or knows of a database, an SSH connection or a mail.
"""
