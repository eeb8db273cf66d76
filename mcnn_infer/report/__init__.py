"""Self-contained HTML report of a results folder (``hcs report``)."""
