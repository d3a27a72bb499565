"""Diversity and representativeness of every condensed set of one dataset (rule diversity)."""

from pathlib import Path

import pandas as pd

from vidcond.io import write_parquet
from vidcond.metrics import diversity_rows
from vidcond.workflow import provenance, run


def main(smk):
    settings = smk.params.settings
    sets = [
        (method, ipc, Path(path).with_suffix(""))
        for (method, ipc), path in zip(smk.params.sets, smk.input.condensed)
    ]
    rows, covers = diversity_rows(
        store_dir=Path(smk.input.store).parent,
        sets=sets,
        teacher_stem=Path(smk.input.teacher).with_suffix(""),
        clip=smk.params.clip,
        seed=smk.params.seed,
        **settings,
    )
    origin = provenance({"diversity": settings, "arch": smk.params.arch, "clip": smk.params.clip}, smk.params.seed)
    table = pd.DataFrame([{"dataset": smk.wildcards.dataset, **row, "arch": smk.params.arch, **origin} for row in rows])
    table["ipc"] = table["ipc"].astype("Int64")
    print(table.to_string())
    write_parquet(smk.output.rows, table)
    write_parquet(smk.output.covered, pd.DataFrame(covers))


run(snakemake, main)
