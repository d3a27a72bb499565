from pathlib import Path

from vidcond.data.framestore import ExtractOptions, extract
from vidcond.data.layouts import list_dataset
from vidcond.workflow import run


def main(smk):
    manifest = extract(
        list_dataset(smk.params.dataset),
        Path(smk.output.manifest).parent,
        ExtractOptions(**smk.params.extract),
        workers=smk.threads,
    )
    bad = manifest[manifest["status"] != "ok"]
    print(f"extracted {len(manifest) - len(bad)} videos; skipped {len(bad)}")
    for row in bad.itertuples():
        print(f"skipped {row.path}: {row.error}")


run(snakemake, main)
