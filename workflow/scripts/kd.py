"""Train one student: alone, by a KD method, or by a KD method with SAKD (rule kd)."""

from pathlib import Path

import pandas as pd

from vidcond.checkpoint import Checkpointer
from vidcond.io import write_parquet
from vidcond.kd.loop import kd_row
from vidcond.workflow import run


def main(smk):
    wc = smk.wildcards
    teacher = smk.input.get("teacher")
    student = smk.input.get("student")
    work_dir = Path("results/work/kd") / wc.dataset / wc.kd_method / wc.mode / wc.setting / f"seed{wc.seed}"
    row = kd_row(
        store_dir=Path(smk.input.store).parent,
        teacher_stem=Path(teacher).with_suffix("") if teacher else None,
        dataset=wc.dataset,
        teacher_name=smk.params.teacher,
        student_name=smk.params.student,
        student_options=smk.params.student_options,
        method=wc.kd_method,
        mode=wc.mode,
        setting=wc.setting,
        seed=int(wc.seed),
        training=smk.params.training,
        method_options=smk.params.method_options,
        sakd=smk.params.sakd,
        clip=smk.params.clip,
        student_stem=Path(student).with_suffix("") if student else None,
        work_dir=work_dir,
    )
    print(row)
    write_parquet(smk.output[0], pd.DataFrame([row]))
    Checkpointer(work_dir, every=1).clear()  # the row is written: the checkpoints are done


run(snakemake, main)
