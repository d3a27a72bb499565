import json
from pathlib import Path

from vidcond.io import write_parquet
from vidcond.tables import read_rows, static_dynamic_table
from vidcond.workflow import run


def main(smk):
    table = static_dynamic_table(
        read_rows(smk.input.rows),
        smk.params.runs,
        [json.loads(Path(p).read_text()) for p in smk.input.metas],
        [json.loads(Path(p).read_text()) for p in smk.input.static_metas],
        smk.params.clip_frames,
    )
    print(table.to_string())
    write_parquet(smk.output[0], table)


run(snakemake, main)
