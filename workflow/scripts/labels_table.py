from vidcond.io import write_parquet
from vidcond.tables import labels_table, read_rows
from vidcond.workflow import run


def main(smk):
    # a cell whose variant trains as the default evaluation reads that job's rows
    rows = read_rows(smk.input.rows, variants=smk.params.variants)
    table = labels_table(rows)
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
