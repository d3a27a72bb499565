from pathlib import Path

from vidcond.condense import run_condense
from vidcond.workflow import run


def main(smk):
    stem = Path(smk.output.meta).with_suffix("")
    inputs = {name: str(Path(path).with_suffix("")) for name, path in smk.input.items() if name != "store"}
    meta = run_condense(
        Path(smk.input.store).parent,
        stem,
        dataset=smk.wildcards.dataset,
        method=smk.wildcards.method,
        kind=smk.params.kind,
        ipc=int(smk.wildcards.ipc),
        params=smk.params.hyper,
        clip=smk.params.clip,
        seed=smk.params.seed,
        inputs=inputs,
        model_options=smk.params.model_options,
        work_dir=Path("results/work/condense") / smk.wildcards.dataset / smk.wildcards.method / f"ipc{smk.wildcards.ipc}",
    )
    print(f"condensed {meta['num_videos']} videos, {meta['storage_bytes'] / 2**20:.2f} MB, {meta['wall_time_s']:.1f} s")


run(snakemake, main)
