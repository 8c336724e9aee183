"""A pass: every client over SSH, the answers opened and checked, the results stored.

``job.run_pass`` runs one pass on an engine (``LocalEngine`` in this process,
``shards.CeleryEngine`` on workers); ``collector`` runs one host, ``envelope`` and
``answer`` open and validate what its agent sent, ``writer`` stores results as they
arrive, ``watch`` runs passes for ever.
"""
