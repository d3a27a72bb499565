from pathlib import Path

from vidcond.pretrain.teacher import train_teacher
from vidcond.workflow import run


def main(smk):
    train_teacher(
        store_dir=Path(smk.input.store).parent,
        out_stem=Path(smk.output.weights).with_suffix(""),
        arch=smk.wildcards.arch,
        model_options=smk.params.model_options,
        training=smk.params.training,
        clip=smk.params.clip,
        seed=smk.params.seed,
        work_dir=Path("results/work/teacher") / smk.wildcards.dataset / smk.wildcards.arch,
    )


run(snakemake, main)
