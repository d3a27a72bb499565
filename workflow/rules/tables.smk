localrules:
    dataset_table,
    main_table,
    cross_arch_table,
    runs_table,
    kd_table,
    kd_ablation_table,


rule dataset_table:
    input:
        manifests=expand("results/frames/{dataset}/manifest.parquet", dataset=DATASETS),
        metas=expand("results/frames/{dataset}/store.json", dataset=DATASETS),
    output:
        "results/datasets.parquet",
    log:
        "logs/tables/datasets.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        datasets=list(DATASETS),
    script:
        "../scripts/dataset_table.py"


rule main_table:
    input:
        rows=get_eval_targets(),
        datasets="results/datasets.parquet",
    output:
        "results/main.parquet",
    log:
        "logs/tables/main.log",
    conda:
        "../../envs/vidcond.yaml"
    script:
        "../scripts/main_table.py"


rule cross_arch_table:
    input:
        rows=get_cross_arch_targets(),
        main=get_eval_targets(),
    output:
        "results/cross_arch.parquet",
    log:
        "logs/tables/cross_arch.log",
    conda:
        "../../envs/vidcond.yaml"
    script:
        "../scripts/cross_arch_table.py"


rule runs_table:
    input:
        get_run_benchmarks(),
    output:
        "results/runs.parquet",
    log:
        "logs/tables/runs.log",
    conda:
        "../../envs/vidcond.yaml"
    script:
        "../scripts/runs_table.py"


rule kd_table:
    input:
        rows=get_kd_targets(),
        teachers=get_kd_teacher_metas() if KD else [],
    output:
        "results/kd.parquet",
    log:
        "logs/tables/kd.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        datasets=list(DATASETS),
        teacher=KD["teacher"] if KD else None,
        methods=list(KD["methods"]) if KD else [],
    script:
        "../scripts/kd_table.py"


rule kd_ablation_table:
    input:
        rows=get_kd_ablation_targets(),
    output:
        "results/kd_ablation.parquet",
    log:
        "logs/tables/kd_ablation.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        grid=kd_ablation_grid() if KD else {},
    script:
        "../scripts/kd_ablation_table.py"
