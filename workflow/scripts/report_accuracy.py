import pandas as pd

from vidcond.report import plot_accuracy_vs_ipc
from vidcond.workflow import run


def main(smk):
    plot_accuracy_vs_ipc(pd.read_parquet(smk.input[0]), smk.wildcards.dataset, smk.output[0])


run(snakemake, main)
