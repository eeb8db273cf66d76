"""One module per ``hcs`` sub-command; each defines ``command`` (a click.Command)."""
