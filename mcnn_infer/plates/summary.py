"""One-line-per-plate summary of a scan (what `hcs plates` prints)."""

from __future__ import annotations

from dataclasses import dataclass

from mcnn_infer.errors import ImageReadError
from mcnn_infer.images import image_info
from mcnn_infer.plates.scan import PlateScan, field_paths
from mcnn_infer.zstack import planes_per_field


@dataclass(frozen=True)
class PlateSummary:
    """Counts and image facts of one plate.

    ``height``/``width`` are pixels; ``bit_depth`` bits per sample (from the first field's
    headers, every channel checked); ``image_problem`` is set when those headers disagree
    or cannot be read. ``planes`` is the most z-planes of one field (more than 1: ``hcs score``
    and ``hcs train`` need ``--planes``), ``timepoints`` the most time points of one site.
    """

    plate: str
    layout: str
    wells: int
    sites: int
    fields: int
    channels: tuple[str, ...]
    height: int | None
    width: int | None
    bit_depth: int | None
    problems: int
    ignored: int
    image_problem: str | None = None
    planes: int = 1
    timepoints: int = 1


def summarize(scan: PlateScan) -> list[PlateSummary]:
    """Summaries for every plate in ``scan``, sorted by plate name."""
    out = []
    for plate in sorted(set(scan.fields["plate"]) | set(scan.problems["plate"])):
        fields = scan.fields[scan.fields["plate"] == plate]
        problems = scan.problems[scan.problems["plate"] == plate]
        height = width = depth = None
        image_problem = None
        if len(fields):
            try:
                infos = [image_info(p) for p in field_paths(fields.iloc[0], scan.channels)]
                shapes = {(i.height, i.width, i.bit_depth) for i in infos}
                height, width, depth = infos[0].height, infos[0].width, infos[0].bit_depth
                if len(shapes) > 1:
                    image_problem = f"channels of the first field differ in size or depth: {sorted(shapes)}"
            except ImageReadError as exc:
                image_problem = str(exc)
        sites = int(fields.groupby("well")["site"].nunique().max()) if len(fields) else 0
        timepoints = int(fields.groupby(["well", "site"])["timepoint"].nunique().max()) if len(fields) else 0
        out.append(
            PlateSummary(
                plate=str(plate),
                layout=scan.layout,
                wells=int(fields["well"].nunique()),
                sites=sites,
                fields=len(fields),
                channels=tuple(scan.channels),
                height=height,
                width=width,
                bit_depth=depth,
                problems=len(problems),
                ignored=len(scan.ignored),
                image_problem=image_problem,
                planes=planes_per_field(fields),
                timepoints=timepoints,
            )
        )
    return out
