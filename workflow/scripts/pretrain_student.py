"""Pretrain the KD student on the disjoint source dataset (rule pretrain_student)."""

from pathlib import Path

from vidcond.pretrain.student import pretrain_student
from vidcond.workflow import run


def main(smk):
    wc = smk.wildcards
    pretrain_student(
        Path(smk.output.weights).with_suffix(""),
        source=smk.params.source,
        target=smk.params.target,
        extract_options=smk.params.extract,
        validation=smk.params.validation,
        clip=smk.params.clip,
        arch=wc.arch,
        model_options=smk.params.model_options,
        training=smk.params.training,
        seed=smk.params.seed,
        work_dir=Path("results/work/pretrain_student") / wc.dataset / wc.arch,
    )


run(snakemake, main)
