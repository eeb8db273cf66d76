"""Click parameter types shared by several commands."""

from __future__ import annotations

import re
from pathlib import Path

import click

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


class ImageSize(click.ParamType):
    """``HxW`` in pixels (e.g. ``256x320``) -> ``(height, width)``."""

    name = "HxW"

    def convert(self, value, param, ctx) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        match = _SIZE_RE.match(str(value))
        if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
            self.fail(f"{value!r} is not HxW in pixels (expected e.g. 256x320 or 1024x1280)", param, ctx)
        return int(match.group(1)), int(match.group(2))


IMAGE_SIZE = ImageSize()

#: ``--pattern`` of the commands that read plate folders (``hcs plates``, ``hcs train``, ``hcs score``).
PLATE_PATTERN = click.option(
    "--pattern",
    metavar="REGEX",
    help="File-name pattern for an instrument without a layout (implies layout 'pattern'): a Python "
    "regular expression matched with re.fullmatch against each TIFF's name, with named groups well (or "
    "row and col) and channel, optionally site (1-based) or site0 (0-based), timepoint, plane and plate "
    "(default: the folder name). E.g. '(?P<well>[A-P]\\d{2})_s(?P<site>\\d+)_(?P<channel>w\\d)\\.tif'.",
)


#: ``--model`` of the commands that run an exported model (``hcs score``, ``hcs watch``).
MODEL_DIR = click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Exported model folder (default: $HCS_MODEL_DIR or models/mcnn-small-synth).",
)


def _profile_normalization():
    """``--normalize`` of the profiles (``hcs analyze``, ``hcs evaluate``): the choices are the analysis's."""
    from mcnn_infer.analysis.profiles import ALIASES, NORMALIZATION_CHOICES, NORMALIZATIONS

    return click.option(
        "--normalize",
        type=click.Choice(NORMALIZATION_CHOICES),
        default=NORMALIZATION_CHOICES[0],
        show_default=True,
        help="Normalisation of the per-well profiles to the plate's DMSO wells (pycytominer): "
        + "; ".join(f"{n.name}: {n.description}" for n in NORMALIZATIONS.values())
        + "".join(f"; {alias}: same as {name}" for alias, name in ALIASES.items())
        + ".",
    )


def _translocation_scale():
    """The scales of the classical translocation readout (``hcs analyze --score``, ``hcs compare``)."""
    from mcnn_infer.analysis.translocation import SCALES

    return click.Choice(list(SCALES))


def _max_hill_option():
    """``--max-hill`` of the 4PL potency fits (``hcs analyze``, ``hcs compare``)."""
    from mcnn_infer.analysis.potency import MAX_HILL

    return click.option(
        "--max-hill",
        type=click.FloatRange(min=0, min_open=True),
        default=MAX_HILL,
        show_default=True,
        help="Bound of the 4PL Hill slope |hill| of the EC50 fits (per log10 unit of concentration; per "
        "dose-index step with an SBS plate map). A fit at the bound is reported as "
        "steep (its EC50 interval then reaches the doses around the transition); that alone does not "
        "make it untrusted.",
    )


#: Parameters built on first use (PEP 562): they import the analysis (scipy, ...), which commands
#: such as ``hcs score`` do not need; ``hcs score`` then refuses a locked folder without that wait.
_LAZY = {
    "PROFILE_NORMALIZATION": _profile_normalization,
    "TRANSLOCATION_SCALE": _translocation_scale,
    "MAX_HILL_OPTION": _max_hill_option,
}


def __getattr__(name: str):
    if name in _LAZY:
        value = _LAZY[name]()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
