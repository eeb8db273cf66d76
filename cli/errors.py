"""Turn user errors into one readable line and a non-zero exit code."""

from __future__ import annotations

import os
import warnings

import click
from rich.console import Console

from mcnn_infer.errors import HcsError, HcsWarning

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

_err = Console(stderr=True, highlight=False, soft_wrap=True)


def run_guarded(group: click.Group, argv: list[str] | None) -> int:
    """Run a click group; map known errors to exit codes and one-line messages.

    Set ``HCS_DEBUG=1`` to see full tracebacks instead. Warnings about the input
    (:class:`~mcnn_infer.errors.HcsWarning`) are one line each, ``hcs: warning: ...``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("default", HcsWarning)  # each distinct warning once
        show = warnings.showwarning

        def one_line(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, HcsWarning):
                _err.print(f"hcs: warning: {_one_line(message)}", markup=False)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = one_line
        return _run(group, argv)


def _run(group: click.Group, argv: list[str] | None) -> int:
    try:
        group.main(args=argv, prog_name="hcs", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        _err.print("hcs: aborted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _err.print("hcs: interrupted; results written so far are kept (re-run the command to resume)")
        return EXIT_INTERRUPTED
    except (HcsError, OSError, MemoryError) as exc:
        if os.environ.get("HCS_DEBUG"):
            raise
        _err.print(f"hcs: error: {_one_line(exc)}", markup=False)
        return EXIT_USER_ERROR
    return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{text} ({exc.filename})"
    return " ".join(text.split())
