"""mkdocs hooks: the docs read the registry and the pin file instead of repeating them.

- the nav entry `kflab-labs-N` becomes stage N's lab pages, in registry order;
- `<!-- kflab:labs N -->` on a page becomes stage N's lab table (all stages without N);
- `<!-- kflab:versions -->` becomes the version table from versions.toml;
- `<!-- kflab:pin kind.version -->` becomes one pinned value (a dotted path into versions.toml),
  so that commands on a page carry the pinned versions; `#v` after the path drops a leading
  "v", as `${VERSION#v}` does in the scripts (Helm charts are versioned without it);
- `<!-- kflab:runs LAB [cluster] -->` lines, read by tests/test_doc_commands.py, are dropped;
- every lab page gets a header with its id, points, tiers and check command.
"""

from __future__ import annotations

import re

from kflab import registry, versions

LABS_ENTRY = re.compile(r"^kflab-labs-(\d+)$")
LAB_TABLE = re.compile(r"<!-- kflab:labs(?: (\d+))? -->")
PIN = re.compile(r"<!-- kflab:pin ([\w.-]+)(#v)? -->")
RUNS = re.compile(r"^[ \t]*<!-- kflab:runs [^>]*-->\n", re.M)


def _expand(items):
    out = []
    for item in items:
        if isinstance(item, str) and LABS_ENTRY.match(item):
            stage = int(LABS_ENTRY.match(item).group(1))
            out += [{f"{lab.id} {lab.title}": lab.docs} for lab in registry.labs() if lab.stage == stage]
        elif isinstance(item, dict):
            out.append({k: _expand(v) if isinstance(v, list) else v for k, v in item.items()})
        else:
            out.append(item)
    return out


def on_config(config):
    config["nav"] = _expand(config["nav"])
    config.setdefault("watch", []).extend(["labs", "solutions", "versions.toml"])
    return config


def lab_table(stage: int | None) -> str:
    rows = ["| Lab | What you build | Tiers | Points |", "|---|---|---|---|"]
    for lab in registry.labs():
        if stage is None or lab.stage == stage:
            rows.append(f"| {lab.id} | [{lab.title}]({{root}}{lab.docs}) | {', '.join(lab.tiers)} | {lab.points} |")
    return "\n".join(rows)


def versions_table() -> str:
    pins = versions.pins()
    rows = ["| Component | Version |", "|---|---|", f"| Kubeflow platform | {pins['platform']['kubeflow']} |",
            f"| Kind / node image | {pins['kind']['version']} / `{pins['kind']['node_image']}` |"]
    for name, comp in pins["components"].items():
        shown = ", ".join(f"{k} {v}" for k, v in comp.items() if k in ("version", "sdk", "backend"))
        rows.append(f"| {name} | {shown} |")
    cp = pins["controlplane"]
    rows.append(f"| CI control plane | Kubernetes {cp['kubernetes']}, kwok {cp['kwok']}, SeaweedFS {cp['seaweedfs']} |")
    return "\n".join(rows)


def pin(path: str) -> str:
    """One value of versions.toml by dotted path; an unknown path fails the (strict) build."""
    value = versions.pins()
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"versions.toml has no {path!r} (a page asks for it with kflab:pin)")
        value = value[part]
    return str(value)


def lab_header(lab: registry.Lab) -> str:
    pins = versions.pins()
    return (
        f'!!! abstract "Lab {lab.id} · {lab.points} points · tiers: {", ".join(lab.tiers)}"\n'
        f"    Edit `labs/{lab.folder}/`, then run `kflab check {lab.id}` "
        f"(or `pytest {lab.check_file.relative_to(lab.check_file.parents[2])}`). "
        f"Stuck? `kflab hint {lab.id}`.\n"
        f"    Written for Kubeflow {pins['platform']['kubeflow']}, KFP SDK {pins['components']['kfp']['sdk']}.\n\n"
    )


def on_page_markdown(markdown, page, config, files):
    depth = page.file.src_uri.count("/")
    root = "../" * depth
    markdown = LAB_TABLE.sub(lambda m: lab_table(int(m.group(1)) if m.group(1) else None).replace("{root}", root), markdown)
    markdown = markdown.replace("<!-- kflab:versions -->", versions_table())
    markdown = PIN.sub(lambda m: pin(m.group(1)).removeprefix("v" if m.group(2) else ""), markdown)
    markdown = RUNS.sub("", markdown)
    for lab in registry.labs():
        if lab.docs == page.file.src_uri:
            title_end = markdown.find("\n", markdown.find("# ")) + 1
            markdown = markdown[:title_end] + "\n" + lab_header(lab) + markdown[title_end:]
    return markdown
