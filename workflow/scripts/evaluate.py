"""Evaluate a condensed set (rules evaluate, cross_arch) or the full training set (evaluate_full)."""

from pathlib import Path

import pandas as pd

from vidcond.evaluation import evaluation_rows
from vidcond.io import write_parquet
from vidcond.workflow import run


def main(smk):
    wc = smk.wildcards
    condensed = smk.input.get("condensed")
    teacher = smk.input.get("teacher")
    rows = evaluation_rows(
        store_dir=Path(smk.input.store).parent,
        condensed_stem=Path(condensed).with_suffix("") if condensed else None,
        teacher_stem=Path(teacher).with_suffix("") if teacher else None,
        teacher_arch=smk.params.teacher_arch,
        dataset=wc.dataset,
        method=wc.get("method", "full"),
        arch=wc.arch,
        protocol=smk.params.protocol,
        variant=wc.get("variant", "default"),
        seeds=smk.params.seeds,
        settings=smk.params.settings,
        model_options=smk.params.model_options,
        clip=smk.params.clip,
    )
    write_parquet(smk.output[0], pd.DataFrame(rows))


run(snakemake, main)
