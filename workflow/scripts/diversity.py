"""Diversity and representativeness of one condensed set (rule diversity)."""

from pathlib import Path

import pandas as pd

from vidcond.io import write_parquet
from vidcond.metrics import diversity_row
from vidcond.workflow import provenance, run


def main(smk):
    wc, settings = smk.wildcards, smk.params.settings
    metrics = diversity_row(
        store_dir=Path(smk.input.store).parent,
        condensed_stem=Path(smk.input.condensed).with_suffix(""),
        teacher_stem=Path(smk.input.teacher).with_suffix(""),
        clip=smk.params.clip,
        seed=smk.params.seed,
        **settings,
    )
    row = {"dataset": wc.dataset, "method": wc.method, "ipc": int(wc.ipc), "arch": smk.params.arch}
    row.update(metrics)
    row.update(
        provenance(
            {"diversity": settings, "arch": smk.params.arch, "clip": smk.params.clip},
            smk.params.seed,
        )
    )
    print(row)
    write_parquet(smk.output[0], pd.DataFrame([row]))


run(snakemake, main)
