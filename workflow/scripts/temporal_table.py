import json

import pandas as pd

from vidcond.io import write_parquet
from vidcond.tables import read_rows, temporal_table
from vidcond.workflow import run


def main(smk):
    metas = [json.loads(open(path).read()) for path in smk.input.metas]
    table = temporal_table(read_rows(smk.input.rows), metas, pd.DataFrame(smk.params.runs))
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
