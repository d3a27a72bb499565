from vidcond.io import write_parquet
from vidcond.tables import diversity_table
from vidcond.workflow import run


def main(smk):
    write_parquet(smk.output[0], diversity_table(smk.input.rows))


run(snakemake, main)
