"""The papers' claims checked on this run's rows (results/claims.parquet)."""

import pandas as pd

from vidcond.claims import claims_table
from vidcond.io import write_parquet
from vidcond.tables import read_rows
from vidcond.workflow import run


def main(smk):
    covered = {
        dataset: pd.read_parquet(path).to_dict(orient="list")
        for dataset, path in zip(smk.params.datasets, smk.input.covered)
    }
    table = claims_table(
        main_rows=read_rows(smk.input.main),
        label_rows=read_rows(smk.input.labels, variants=smk.params.label_variants) if smk.input.labels else None,
        kd_rows=read_rows(smk.input.kd) if smk.input.kd else None,
        covered=covered,
        kinds=smk.params.kinds,
    )
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
