from pathlib import Path

from vidcond.pretrain.diffusion import train_diffusion
from vidcond.workflow import run


def main(smk):
    summary = train_diffusion(
        Path(smk.input.store).parent,
        smk.output.model,
        smk.output.meta,
        settings=smk.params.settings,
        clip=smk.params.clip,
        seed=smk.params.seed,
        teacher_stem=Path(smk.input.teacher).with_suffix(""),
        work_dir=Path("results/work/diffusion") / smk.wildcards.dataset,
    )
    print(f"diffusion ({summary['source']}, {summary['denoiser']}): built in {summary['train_seconds']:.1f} s, {summary['steps']} fine-tuning steps")
    print(f"sample quality: {summary.get('quality')}")


run(snakemake, main)
