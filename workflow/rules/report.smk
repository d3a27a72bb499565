report: "../report/workflow.rst"


include: "inputs/report.smk"


localrules:
    table_html,
    accuracy_plot,
    cross_arch_plot,
    condensed_preview,
    frame_differences,
    runs_plot,


rule table_html:
    input:
        "results/{table}.parquet",
    output:
        report(
            REPORT_TABLE,
            caption="../report/table.rst",
            category=report_table_category,
            labels={"table": "{table}"},
        ),
    log:
        "logs/report/tables/{table}.log",
    benchmark:
        "benchmarks/table_html/{table}.tsv"
    wildcard_constraints:
        table="|".join(PLAN.tables()),
    conda:
        "../../envs/vidcond.yaml"
    params:
        code=code_version("report_table"),
    script:
        "../scripts/report_table.py"


rule accuracy_plot:
    input:
        "results/main.parquet",
    output:
        report(
            REPORT_ACCURACY,
            caption="../report/accuracy_ipc.rst",
            category="Accuracy vs IPC",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "logs/report/accuracy_ipc/{dataset}.log",
    benchmark:
        "benchmarks/accuracy_plot/{dataset}.tsv"
    conda:
        "../../envs/vidcond.yaml"
    params:
        code=code_version("report_accuracy"),
    script:
        "../scripts/report_accuracy.py"


rule cross_arch_plot:
    input:
        "results/cross_arch.parquet",
    output:
        report(
            REPORT_CROSS_ARCH,
            caption="../report/cross_arch.rst",
            category="Cross-architecture",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "logs/report/cross_arch/{dataset}.log",
    benchmark:
        "benchmarks/cross_arch_plot/{dataset}.tsv"
    conda:
        "../../envs/vidcond.yaml"
    params:
        code=code_version("report_cross_arch"),
    script:
        "../scripts/report_cross_arch.py"


rule condensed_preview:
    input:
        tensors=f"{CONDENSED}.safetensors",
        meta=f"{CONDENSED}.json",
        store_meta="results/frames/{dataset}/store.json",
    output:
        report(
            REPORT_PREVIEW,
            caption="../report/preview.rst",
            category="Condensed videos",
            subcategory="{dataset}",
            labels={"method": "{method}", "IPC": "{ipc}"},
        ),
    log:
        "logs/report/previews/{dataset}/{method}/ipc{ipc}.log",
    benchmark:
        "benchmarks/condensed_preview/{dataset}/{method}/ipc{ipc}.tsv"
    conda:
        "../../envs/vidcond.yaml"
    params:
        code=code_version("report_preview"),
    script:
        "../scripts/report_preview.py"


rule frame_differences:
    input:
        tensors=f"{CONDENSED}.safetensors",
        meta=f"{CONDENSED}.json",
        store_meta="results/frames/{dataset}/store.json",
    output:
        report(
            REPORT_DIFFERENCES,
            caption="../report/frame_differences.rst",
            category="Inter-frame differences",
            subcategory="{dataset}",
            labels={"method": "{method}", "IPC": "{ipc}"},
        ),
    log:
        "logs/report/frame_differences/{dataset}/{method}/ipc{ipc}.log",
    benchmark:
        "benchmarks/frame_differences/{dataset}/{method}/ipc{ipc}.tsv"
    conda:
        "../../envs/vidcond.yaml"
    params:
        code=code_version("report_frame_differences"),
    script:
        "../scripts/report_frame_differences.py"


rule runs_plot:
    input:
        "results/runs.parquet",
    output:
        report(REPORT_RUNS, caption="../report/runs.rst", category="Runs"),
    log:
        "logs/report/runs.log",
    benchmark:
        "benchmarks/runs_plot/runs.tsv"
    conda:
        "../../envs/vidcond.yaml"
    params:
        code=code_version("report_runs"),
    script:
        "../scripts/report_runs.py"
