from pathlib import Path

from vidcond.pretrain.experts import train_experts
from vidcond.workflow import run


def main(smk):
    settings = smk.params.settings
    train_experts(
        store_dir=Path(smk.input.store).parent,
        stem=smk.output.shards,
        arch=smk.wildcards.arch,
        model_options=smk.params.model_options,
        num_experts=settings["num_experts"],
        epochs=settings["epochs"],
        training=settings["training"],
        clip=smk.params.clip,
        seed=smk.params.seed,
        work_dir=Path("results/work/experts") / smk.wildcards.dataset / smk.wildcards.arch,
        checkpoint_every=settings.get("checkpoint_every", 0),
    )


run(snakemake, main)
