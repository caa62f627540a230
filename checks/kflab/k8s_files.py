"""A learner's files on the cluster: placed in the check's namespace, and nothing cluster-wide left behind.

`LearnerFiles` is a part of `kflab.k8s.Cluster` (it needs the cluster's
`resource` and `create`); `unique_names` renames the cluster-wide objects a lab
must create (Kueue's ClusterQueues and ResourceFlavors) so that runs never share them.
"""

from __future__ import annotations

import json


def unique_names(docs: list[dict], kinds: tuple[str, ...], suffix: str) -> tuple[list[dict], dict[str, str]]:
    """Copies of `docs` whose objects of `kinds` are named NAME-suffix, and every reference to them too.

    For cluster-wide objects, which every run would otherwise share. Returns the
    copies and the map from old names to new.
    """
    names = {d["metadata"]["name"]: f"{d['metadata']['name']}-{suffix}" for d in docs if d.get("kind") in kinds}
    text = json.dumps(docs)
    for old, new in names.items():
        text = text.replace(json.dumps(old), json.dumps(new))
    return json.loads(text), names


class LearnerFiles:
    """How a Cluster applies a learner's manifests: in the check's namespace, after refusing cluster-wide objects."""

    def into_namespace(self, obj: dict, namespace: str, move_subjects: bool = True) -> dict:
        """A copy of `obj` placed in `namespace` (and its ServiceAccount subjects with it, unless told not to:
        a binding to another namespace's ServiceAccount, such as KFP's kubeflow/pipeline-runner, keeps it)."""
        obj = json.loads(json.dumps(obj))
        if self.resource(obj["apiVersion"], obj["kind"]).namespaced:
            obj.setdefault("metadata", {})["namespace"] = namespace
        for subject in (obj.get("subjects", []) or []) if move_subjects else []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
        return obj

    def expect_namespaced(self, docs: list[dict], file: str, renamed: tuple[str, ...] = ()) -> None:
        """Refuse, before anything is created, a cluster-wide object the check would not rename and remove.

        A Namespace, ClusterRole or the like made from a learner's file would outlive the check's
        namespace, collide with the next run, and could grant something to everyone on the cluster.
        """
        from kflab.failures import fail
        from kflab.manifests import name_of

        wide = [f"{d.get('kind')} {name_of(d)}" for d in docs
                if d.get("kind") not in renamed and not self.resource(d["apiVersion"], d["kind"]).namespaced]
        if wide:
            fail(f"{file} holds {', '.join(wide)}, which {'is' if len(wide) == 1 else 'are'} cluster-wide: the checks make "
                 "nothing cluster-wide from your files that they cannot rename and remove, since it would outlive them "
                 "and reach everyone on the cluster. Remove it from the file (make a namespace with `kubectl create "
                 "namespace` and apply with -n).")

    def apply_all(self, docs: list[dict], namespace: str, move_subjects: bool = True, file: str = "the file") -> list[dict]:
        """Create every object of a lab file in the check's namespace; returns what was created."""
        self.expect_namespaced(docs, file)
        created = []
        for doc in docs:
            obj = self.into_namespace(doc, namespace, move_subjects)
            self.create(obj, namespace)
            created.append(obj)
        return created
