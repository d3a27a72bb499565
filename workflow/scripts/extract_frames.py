from pathlib import Path

from vidcond.data.framestore import ExtractOptions, extract
from vidcond.data.layouts import list_dataset, manifest_summary
from vidcond.data.splits import carve_validation
from vidcond.workflow import run


def main(smk):
    listing = list_dataset(smk.params.dataset)
    listing.videos = carve_validation(listing.videos, **smk.params.validation)
    manifest = extract(
        listing,
        Path(smk.output.manifest).parent,
        ExtractOptions(**smk.params.extract),
        workers=smk.threads,
    )
    print(manifest_summary(smk.wildcards.dataset, smk.output.manifest))
    for row in manifest[manifest["status"] != "ok"].itertuples():
        print(f"skipped {row.path}: {row.error}")


run(snakemake, main)
