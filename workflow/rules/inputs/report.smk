"""Input functions and targets of the report rules (workflow/rules/report.smk): paths from
the plan (`PLAN`, vidcond.plan) and the templates of common.smk."""

# Files `snakemake --report` shows; `all_tables` builds them. Every table of
# `get_all_tables()` is rendered to HTML, so a new table appears without further changes.
REPORT_TABLE = "results/report/tables/{table}.html"
REPORT_ACCURACY = "results/report/accuracy_ipc/{dataset}.png"
REPORT_CROSS_ARCH = "results/report/cross_arch/{dataset}.png"
REPORT_PREVIEW = "results/report/previews/{dataset}/{method}/ipc{ipc}.png"
REPORT_RUNS = "results/report/runs.png"
REPORT_DIFFERENCES = "results/report/frame_differences/{dataset}/{method}/ipc{ipc}.png"


def report_table_category(wildcards):
    return "Runs" if wildcards.table == "runs" else "Tables"


def get_report_targets():
    targets = [REPORT_TABLE.format(table=t) for t in PLAN.tables()]
    targets += [REPORT_ACCURACY.format(dataset=d) for d in DATASETS]
    cross_arch_datasets = {wc["dataset"] for _, wc in PLAN.cross_arch_jobs()}
    targets += [REPORT_CROSS_ARCH.format(dataset=d) for d in sorted(cross_arch_datasets)]
    targets += [
        REPORT_PREVIEW.format(dataset=d, method=m, ipc=i)
        for (d, m), i in PLAN.preview_sets().items()
    ]
    targets += [
        REPORT_DIFFERENCES.format(dataset=d, method=m, ipc=i)
        for (d, m), i in PLAN.differenced_sets().items()
    ]
    return targets + [REPORT_RUNS]
