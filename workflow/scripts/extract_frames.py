from pathlib import Path

from vidcond.data.framestore import ExtractOptions, extract
from vidcond.data.layouts import list_dataset
from vidcond.data.splits import carve_validation
from vidcond.workflow import run


def main(smk):
    listing = list_dataset(smk.params.dataset)
    listing.videos = carve_validation(listing.videos, **smk.params.validation)
    manifest = extract(
        listing,
        Path(smk.output.manifest).parent,
        ExtractOptions(**smk.params.extract),
    )
    bad = manifest[manifest["status"] != "ok"]
    print(f"extracted {len(manifest) - len(bad)} videos; skipped {len(bad)}")
    for row in bad.itertuples():
        print(f"skipped {row.path}: {row.error}")


run(snakemake, main)
