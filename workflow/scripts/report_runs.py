import pandas as pd

from vidcond.report import plot_runs
from vidcond.workflow import run


def main(smk):
    plot_runs(pd.read_parquet(smk.input[0]), smk.output[0])


run(snakemake, main)
