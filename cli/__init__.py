"""The ``orgload`` command line (SPEC §6): one module per command group over the service layer."""
