from pathlib import Path

from vidcond.pretrain.interpolator import train_interpolator
from vidcond.workflow import run


def main(smk):
    meta = train_interpolator(
        Path(smk.input.store).parent,
        Path(smk.output.weights).with_suffix(""),
        options=smk.params.options,
        training=smk.params.training,
        clip=smk.params.clip,
        seed=smk.params.seed,
        work_dir=Path("results/work/interpolator") / smk.wildcards.dataset,
    )
    print({k: v for k, v in meta.items() if k.startswith("test_mse")})


run(snakemake, main)
