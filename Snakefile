from snakemake.utils import min_version

min_version("9.19")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/condense.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/kd.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/report.smk"


rule all_tables:
    default_target: True
    input:
        get_all_tables(),
        get_report_targets(),
