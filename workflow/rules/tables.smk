include: "inputs/tables.smk"


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
        manifests=expand(FRAME_STORE, dataset=DATASETS),
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
        rows=EVAL_TARGETS,
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
        rows=outputs(PLAN.cross_arch_jobs()),
        main=EVAL_TARGETS,
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
        outputs(PLAN.run_jobs(), BENCHMARKS),
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
        rows=KD_TARGETS,
        teachers=(
            [f"{TEACHER.format(dataset=d, arch=PLAN.kd['teacher'])}.json" for d in DATASETS]
            if PLAN.kd
            else []
        ),
    output:
        "results/kd.parquet",
    log:
        "logs/tables/kd.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        datasets=list(DATASETS),
        teacher=PLAN.kd["teacher"] if PLAN.kd else None,
        methods=list(PLAN.kd["methods"]) if PLAN.kd else [],
        code=code_version("kd_table"),
    script:
        "../scripts/kd_table.py"


rule kd_ablation_table:
    input:
        rows=KD_ABLATION_TARGETS,
    output:
        "results/kd_ablation.parquet",
    log:
        "logs/tables/kd_ablation.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        grid=PLAN.kd_ablation_grid() if PLAN.kd else {},
        code=code_version("kd_ablation_table"),
    script:
        "../scripts/kd_ablation_table.py"


rule labels_table:
    input:
        rows=LABELS_TARGETS,
    output:
        "results/labels.parquet",
    log:
        "logs/tables/labels.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        variants=LABELS_VARIANTS,
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
        runs=PLAN.static_dynamic_runs(),
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
        runs=PLAN.temporal_runs(),
        code=code_version("temporal_table"),
    script:
        "../scripts/temporal_table.py"


rule diversity_table:
    input:
        rows=outputs(PLAN.diversity_jobs()),
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
        main=EVAL_TARGETS,
        labels=LABELS_TARGETS,
        kd=KD_TARGETS + KD_ABLATION_TARGETS,
        covered=DIVERSITY_COVERED_TARGETS,
    output:
        "results/claims.parquet",
    log:
        "logs/tables/claims.log",
    conda:
        "../../envs/vidcond.yaml"
    params:
        datasets=[wc["dataset"] for _, wc in PLAN.diversity_jobs()],
        kinds={m: PLAN.method_kind(m) for m in PLAN.entries},
        label_variants=LABELS_VARIANTS,
        code=code_version("claims_table"),
    script:
        "../scripts/claims_table.py"
