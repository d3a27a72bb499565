"""Which paper each method kind comes from, hence the evaluation protocol its own paper
reports it under, and its family (how it builds a set). Light (no torch) so that the
workflow's planning can import it.

Every condensed set is evaluated under the config's common protocol
(``evaluation.protocol``) and, where that protocol is configured, under its own paper's;
``random`` (the reference of every paired comparison) under every protocol in use.
"""

from __future__ import annotations

# kind -> (paper protocol, family)
KINDS = {
    "random": ("dancing", "selection"),
    "herding": ("dancing", "selection"),
    "kcenter": ("dancing", "selection"),
    "rded": ("videodc", "selection"),
    "dc_static": ("dancing", "distillation"),
    "dm": ("dancing", "distillation"),
    "mtt": ("dancing", "distillation"),
    "frepo": ("dancing", "distillation"),
    "dm_sd": ("dancing", "distillation"),
    "mtt_sd": ("dancing", "distillation"),
    "frepo_sd": ("dancing", "distillation"),
    "datm": ("videodc", "distillation"),
    "edc": ("videodc", "distillation"),
    "gvd": ("gvd", "diffusion"),
    "gvd_naive": ("gvd", "diffusion"),
    "gvd_knoise": ("gvd", "diffusion"),
}
REFERENCE = "random"
# The +SD kinds and the kind whose objective each applies to static/dynamic memories.
SD_BASES = {"dm_sd": "dm", "mtt_sd": "mtt", "frepo_sd": "frepo"}


def paper_protocol(kind: str) -> str:
    return KINDS[kind][0]


def family(kind: str) -> str:
    return KINDS[kind][1]


def evaluation_protocols(kinds_by_method: dict[str, str], common: str, configured) -> dict[str, list[str]]:
    """method -> the protocols its sets are evaluated under: the common one first, then its
    paper's where configured; the reference method under every protocol any method uses."""
    plan = {}
    for method, kind in kinds_by_method.items():
        own = paper_protocol(kind) if kind in KINDS else common
        plan[method] = [common] + ([own] if own != common and own in configured else [])
    used = [common] + sorted({p for ps in plan.values() for p in ps} - {common})
    for method, kind in kinds_by_method.items():
        if kind == REFERENCE:
            plan[method] = used
    return plan
