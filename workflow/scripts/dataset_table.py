from vidcond.tables import dataset_table
from vidcond.io import write_parquet
from vidcond.workflow import run


def main(smk):
    table = dataset_table(dict(zip(smk.params.datasets, smk.input.manifests)), smk.input.metas)
    write_parquet(smk.output[0], table)


run(snakemake, main)
