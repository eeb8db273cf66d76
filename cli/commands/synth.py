"""`hcs synth OUT`: generate synthetic BBBC021-like plates with known ground truth."""

from __future__ import annotations

import click
from hcs_cli.console import make_console
from hcs_cli.params import IMAGE_SIZE

from mcnn_infer.errors import ConfigError
from mcnn_infer.synth import MOAS, synthesize
from mcnn_infer.synth import design as defaults
from mcnn_infer.synth.design import CONTROL_LAYOUTS
from mcnn_infer.synth.writer import FIELD_SIZE

_LOW_UM, _HIGH_UM = defaults.CONCENTRATION_RANGE_UM


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ConfigError(f"{value!r} lists nothing (expected comma-separated names)")
    return items


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--like",
    type=click.Choice(["simple", "bbbc021"]),
    default="simple",
    show_default=True,
    help="Reproduce the real BBBC021 design, or build a simple dose-response screen.",
)
@click.option(
    "--plates", type=click.IntRange(min=1), help="Number of plates (bbbc021: the first N in week order)."
)
@click.option(
    "--plate",
    "plate_names",
    multiple=True,
    help="A BBBC021 plate to generate (repeatable), e.g. Week1_22123.",
)
@click.option("--wells", help="bbbc021: comma-separated wells to keep, e.g. B02,C05.")
@click.option(
    "--sites",
    type=click.IntRange(min=1),
    help=f"Sites per well (bbbc021: first N of 4; simple: default {defaults.SITES}).",
)
@click.option(
    "--size",
    default=f"{FIELD_SIZE[0]}x{FIELD_SIZE[1]}",
    show_default=True,
    type=IMAGE_SIZE,
    help="Image size HxW in pixels.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed; the same seed gives identical files."
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--compounds-per-moa",
    type=click.IntRange(min=1),
    default=defaults.COMPOUNDS_PER_MOA,
    show_default=True,
    help="simple mode.",
)
@click.option(
    "--concentrations",
    type=click.IntRange(min=1),
    default=defaults.CONCENTRATIONS,
    show_default=True,
    help=f"simple mode: doses per compound, log-spaced over {_LOW_UM:g}-{_HIGH_UM:g} µM.",
)
@click.option(
    "--replicates", type=click.IntRange(min=1), default=defaults.REPLICATES, show_default=True, help="simple mode."
)
@click.option(
    "--controls",
    type=click.IntRange(min=0),
    default=defaults.CONTROLS,
    show_default=True,
    help="simple mode: DMSO (negative control) wells per plate.",
)
@click.option(
    "--positive-controls",
    type=click.IntRange(min=0),
    default=defaults.POSITIVE_CONTROLS,
    show_default=True,
    help="simple mode: positive control (PC-taxol) wells per plate.",
)
@click.option(
    "--control-layout",
    type=click.Choice(CONTROL_LAYOUTS),
    default=CONTROL_LAYOUTS[0],
    show_default=True,
    help="simple mode: controls fill the first / last column (columns) or alternate down both (interleaved).",
)
@click.option(
    "--plate-format",
    type=click.Choice(["96", "384"]),
    default=str(defaults.PLATE_FORMAT),
    show_default=True,
    help="simple mode: wells per plate (a 384-well plate holds a whole replicate of a larger screen).",
)
@click.option("--moas", help=f"simple mode: comma-separated subset of MoAs ({'; '.join(MOAS)}).")
@click.option(
    "--unannotated",
    type=click.Choice(["skip", "dmso-like"]),
    default="skip",
    show_default=True,
    help="bbbc021: compounds without any MoA annotation are skipped (listed in skipped_fields.csv) "
    "or rendered DMSO-like with MoA 'unannotated'.",
)
@click.option(
    "--metadata",
    "metadata_dir",
    type=click.Path(exists=True, file_okay=False, path_type=str),
    help="bbbc021: folder with BBBC021_v1_image.csv and BBBC021_v1_moa.csv (default: the copies shipped).",
)
@click.option(
    "--preview/--no-preview",
    default=False,
    show_default=True,
    help="Also write preview.png: one field per MoA at its strongest dose.",
)
@click.option("--overwrite", is_flag=True, help="Replace a synthetic screen already in OUT.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def command(out: str, wells: str | None, moas: str | None, plate_format: str, **options) -> None:
    """Generate synthetic BBBC021-like plates (16-bit TIFFs, BBBC021 CSVs, ground truth) in OUT."""
    console = make_console()
    # every other option goes to synthesize() under its own name
    result = synthesize(
        out, wells=_split(wells), moas=_split(moas), plate_format=int(plate_format), **options
    )
    size = options["size"]
    truth = result.truth_fields
    console.print(
        f"wrote {result.n_fields} fields ({truth['plate'].nunique()} plates, {truth['well'].nunique()} wells, "
        f"{size[0]}x{size[1]}, 3 channels) to {result.out_dir} in {result.seconds:.1f} s "
        f"({result.fields_per_second:.1f} fields/s)"
    )
    skipped = result.design.skipped
    if len(skipped):
        names = ", ".join(sorted(skipped["compound"].unique())[:8])
        console.print(
            f"[yellow]skipped {len(skipped)} fields of {skipped['compound'].nunique()} compound(s) without a MoA "
            f"annotation ({names}...); listed in skipped_fields.csv[/]"
        )
    for key, path in result.files.items():
        console.print(f"  {key}: {path}", markup=False)
    if result.preview is not None:
        console.print(f"  preview: {result.preview}", markup=False)
