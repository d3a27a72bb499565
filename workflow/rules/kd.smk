rule kd:
    input:
        unpack(get_kd_input),
    output:
        KD_ROW,
    log:
        "logs/kd/{dataset}/{kd_method}/{mode}/{setting}/seed{seed}.log",
    benchmark:
        BENCHMARKS["kd"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        teacher=KD["teacher"] if KD else None,
        student=KD["student"] if KD else None,
        student_options=get_kd_student_options,
        training=get_kd_training,
        method_options=get_kd_method_options,
        sakd=get_kd_sakd,
        clip=get_clip,
        code=code_version("kd"),
    script:
        "../scripts/kd.py"
