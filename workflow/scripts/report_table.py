from vidcond.report import write_table_html
from vidcond.workflow import run


def main(smk):
    table = write_table_html(smk.input[0], smk.output[0], title=smk.input[0])
    print(f"{smk.input[0]}: {len(table)} rows")


run(snakemake, main)
