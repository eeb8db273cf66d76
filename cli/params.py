"""Click parameter types shared by several commands."""

from __future__ import annotations

import re

import click

from mcnn_infer.analysis.profiles import NORMALIZATIONS

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

#: ``--normalize`` of the profiles (``hcs analyze``, ``hcs evaluate``): the choices are the analysis's.
PROFILE_NORMALIZATION = click.option(
    "--normalize",
    type=click.Choice(NORMALIZATIONS),
    default=NORMALIZATIONS[0],
    show_default=True,
    help="Profile normalisation.",
)
