import pandas as pd

from vidcond.report import plot_cross_arch
from vidcond.workflow import run


def main(smk):
    plot_cross_arch(pd.read_parquet(smk.input[0]), smk.wildcards.dataset, smk.output[0])


run(snakemake, main)
