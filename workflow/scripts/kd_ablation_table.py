from vidcond.io import write_parquet
from vidcond.kd.tables import kd_ablation_table
from vidcond.tables import read_rows
from vidcond.workflow import run


def main(smk):
    table = kd_ablation_table(read_rows(smk.input.rows), smk.params.grid)
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
