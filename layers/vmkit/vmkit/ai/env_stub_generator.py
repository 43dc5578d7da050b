"""The env stub: every variable the deploy will pass to the app, by name only.

It tells the user what to set in VMKit before the first deploy and where each name
was found. Values never appear: secrets live encrypted in VMKit and reach the deploy
as GitHub Actions secrets; plain settings as Actions variables.
"""

from __future__ import annotations

from vmkit.ai.context import GenerationContext
from vmkit.ai.generation_plan import GenerationPlan
from vmkit.ai.scan_result import ScanResult

ENV_STUB_PATH = "config/vmkit.env.example"


def generate(scan: ScanResult, ctx: GenerationContext) -> dict[str, str]:
    plan = GenerationPlan(scan, ctx)
    where = {v.name: ", ".join(sorted({e.file for e in v.evidence})) for v in scan.env_vars}
    lines = [
        f"# Environment of {ctx.owner}/{ctx.repo} ({ctx.env_slug}), found by VMKit's scan.",
        "# Names only: set the values in VMKit for this environment. Secrets are stored",
        "# encrypted and reach the deploy as GitHub Actions secrets, settings as Actions",
        "# variables. Do not put values in this file: it is committed.",
        f"# PORT is set to {scan.port} by config/deploy.yml.",
    ]
    sections = [
        ("Secrets", plan.app_secret_names, lambda n: f"read in {where.get(n, 'the app')}"),
        ("Settings", plan.app_config_names, lambda n: f"read in {where.get(n, 'the app')}"),
        (
            "Backing services (Kamal accessories)",
            plan.accessory_secret_names,
            lambda n: "password of a service VMKit runs next to the app",
        ),
    ]
    for title, names, comment in sections:
        if names:
            lines += ["", f"# {title}"]
            for name in names:
                lines += [f"# {comment(name)}", f"{name}="]
    hints = [
        f"#   {spec.name}: "
        + spec.url_hint.format(service=ctx.service, host=plan.accessory_host(spec))
        for spec in plan.accessories
    ]
    if hints:
        lines += ["", "# The app reaches its services on Kamal's network, for example:", *hints]
    return {ENV_STUB_PATH: "\n".join(lines) + "\n"}
