"""Which paper each method kind comes from, hence the evaluation protocol its own paper
reports it under, and its family (how it builds a set), as the method classes declare
them.

Every condensed set is evaluated under the config's common protocol
(``evaluation.protocol``) and, where that protocol is configured, under its own paper's;
``random`` (the reference of every paired comparison) under every protocol in use.
"""

from __future__ import annotations

REFERENCE = "random"


def paper_protocol(kind: str) -> str:
    """The protocol of the paper ``kind`` comes from (declared on its method class)."""
    from .methods import method_class

    return method_class(kind).paper_protocol


def family(kind: str) -> str:
    """How ``kind`` builds its set: selection, distillation or diffusion (its class says)."""
    from .methods import method_class

    return method_class(kind).family


def evaluation_protocols(kinds_by_method: dict[str, str], common: str, configured) -> dict[str, list[str]]:
    """method -> the protocols its sets are evaluated under: the common one first, then its
    paper's where configured; the reference method under every protocol any method uses."""
    plan = {}
    for method, kind in kinds_by_method.items():
        own = paper_protocol(kind)
        plan[method] = [common] + ([own] if own != common and own in configured else [])
    used = [common] + sorted({p for ps in plan.values() for p in ps} - {common})
    for method, kind in kinds_by_method.items():
        if kind == REFERENCE:
            plan[method] = used
    return plan
