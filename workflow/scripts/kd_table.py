import json
from pathlib import Path

from vidcond.io import write_parquet
from vidcond.kd.tables import kd_table
from vidcond.tables import read_rows
from vidcond.workflow import run


def main(smk):
    teachers = {
        dataset: (smk.params.teacher, json.loads(Path(meta).read_text()))
        for dataset, meta in zip(smk.params.datasets, smk.input.teachers)
    }
    table = kd_table(read_rows(smk.input.rows), teachers, smk.params.methods)
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
