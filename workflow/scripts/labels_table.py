from vidcond.io import write_parquet
from vidcond.tables import labels_table, read_rows
from vidcond.workflow import run


def main(smk):
    table = labels_table(read_rows(smk.input.rows))
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
