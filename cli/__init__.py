"""The ``hcs`` command line (installed as ``hcs_cli``): thin Click commands over public functions."""
