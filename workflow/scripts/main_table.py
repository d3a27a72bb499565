import pandas as pd

from vidcond.io import write_parquet
from vidcond.tables import main_table, read_rows
from vidcond.workflow import run


def main(smk):
    table = main_table(read_rows(smk.input.rows), pd.read_parquet(smk.input.datasets))
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
