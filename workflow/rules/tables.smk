localrules:
    dataset_table,
    main_table,
    cross_arch_table,
    runs_table,
    kd_table,
    kd_ablation_table,
    labels_table,
    static_dynamic_table,
    temporal_table,
    diversity_table,
    claims_table,


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
        code=code_version("dataset_table"),
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
    params:
        code=code_version("main_table"),
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
    params:
        code=code_version("cross_arch_table"),
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
    params:
        code=code_version("runs_table"),
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
        code=code_version("kd_table"),
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
        code=code_version("kd_ablation_table"),
    script:
        "../scripts/kd_ablation_table.py"


rule labels_table:
    input:
        rows=get_labels_ablation_targets(),
    output:
        "results/labels.parquet",
    log:
        "logs/tables/labels.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        code=code_version("labels_table"),
    script:
        "../scripts/labels_table.py"


rule static_dynamic_table:
    input:
        unpack(get_static_dynamic_input),
    output:
        "results/static_dynamic.parquet",
    log:
        "logs/tables/static_dynamic.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        runs=static_dynamic_runs() if SD_ABLATION else [],
        clip_frames={d: DATASETS[d]["clip"]["num_frames"] for d in DATASETS},
        code=code_version("static_dynamic_table"),
    script:
        "../scripts/static_dynamic_table.py"


rule temporal_table:
    input:
        unpack(get_temporal_input),
    output:
        "results/temporal.parquet",
    log:
        "logs/tables/temporal.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        runs=temporal_runs(),
        code=code_version("temporal_table"),
    script:
        "../scripts/temporal_table.py"


rule diversity_table:
    input:
        rows=get_diversity_targets(),
    output:
        "results/diversity.parquet",
    log:
        "logs/tables/diversity.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        code=code_version("diversity_table"),
    script:
        "../scripts/diversity_table.py"


rule claims_table:
    input:
        main=get_eval_targets(),
        labels=get_labels_ablation_targets(),
        kd=get_kd_targets() + get_kd_ablation_targets() if KD else [],
        covered=get_diversity_covered(),
    output:
        "results/claims.parquet",
    log:
        "logs/tables/claims.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        datasets=[wc["dataset"] for _, wc in _diversity_jobs()],
        kinds={m: method_kind(m) for m in METHOD_ENTRIES},
    script:
        "../scripts/claims_table.py"
