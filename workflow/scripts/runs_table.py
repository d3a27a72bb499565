from vidcond.io import write_parquet
from vidcond.tables import runs_table
from vidcond.workflow import run


def main(smk):
    write_parquet(smk.output[0], runs_table(smk.input))


run(snakemake, main)
