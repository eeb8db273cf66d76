"""``python -m hcs_cli`` runs the ``hcs`` command."""

from hcs_cli.main import cli

cli()
