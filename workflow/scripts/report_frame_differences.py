import json
from pathlib import Path

from vidcond.report import plot_frame_differences
from vidcond.workflow import run


def main(smk):
    classes = json.loads(Path(smk.input.store_meta).read_text())["classes"]
    plot_frame_differences(
        Path(smk.input.meta).with_suffix(""),
        [c["name"] for c in sorted(classes, key=lambda c: c["label"])],
        smk.output[0],
        title=f"{smk.wildcards.dataset} / {smk.wildcards.method} / IPC {smk.wildcards.ipc}",
    )


run(snakemake, main)
