import pandas as pd

from vidcond.io import write_parquet
from vidcond.tables import cross_arch_table, read_rows
from vidcond.workflow import run


def main(smk):
    rows = read_rows(smk.input.rows) if smk.input.rows else pd.DataFrame(columns=["dataset", "method", "ipc", "protocol", "arch"])
    table = cross_arch_table(rows, read_rows(smk.input.main))
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
