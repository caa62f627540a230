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


def foreign_namespaces(docs: list[dict], namespace: str) -> list[str]:
    """Objects, and ServiceAccount subjects, that name a namespace other than the one the file is applied in.

    `kubectl apply -n NS` refuses an object whose metadata.namespace differs, and a binding to
    a ServiceAccount of another namespace grants nothing to the one the file creates.
    """
    found = []
    for doc in docs:
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        if meta.get("namespace") not in (None, "", namespace):
            found.append(f"{doc.get('kind')} {meta.get('name')} sets metadata.namespace: {meta['namespace']}")
        subjects = doc.get("subjects") if isinstance(doc.get("subjects"), list) else []
        for subject in subjects:
            if isinstance(subject, dict) and subject.get("kind") == "ServiceAccount" \
                    and subject.get("namespace") not in (None, "", namespace):
                found.append(f"{doc.get('kind')} {meta.get('name')} binds ServiceAccount "
                             f"{subject['namespace']}/{subject.get('name')}")
    return found


class LearnerFiles:
    """How a Cluster applies a learner's manifests: in the check's namespace, after refusing cluster-wide objects."""

    def into_namespace(self, obj: dict, namespace: str, subjects_from: str | None = None) -> dict:
        """A copy of `obj` placed in `namespace`, with its ServiceAccount subjects of `subjects_from` moved along.

        The learner's file is written for its own namespace (team-a, say); a subject there, or one
        with no namespace, moves with the objects. A subject in another namespace keeps it: KFP's
        kubeflow/pipeline-runner must, and one written for the wrong namespace must still fail.
        """
        obj = json.loads(json.dumps(obj))
        if self.resource(obj["apiVersion"], obj["kind"]).namespaced:
            obj.setdefault("metadata", {})["namespace"] = namespace
        for subject in (obj.get("subjects", []) or []) if subjects_from else []:
            if subject.get("kind") == "ServiceAccount" and subject.get("namespace") in (None, "", subjects_from):
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

    def apply_all(self, docs: list[dict], namespace: str, subjects_from: str | None = None, file: str = "the file") -> list[dict]:
        """Create every object of a lab file in the check's namespace; returns what was created."""
        self.expect_namespaced(docs, file)
        created = []
        for doc in docs:
            obj = self.into_namespace(doc, namespace, subjects_from)
            self.create(obj, namespace)
            created.append(obj)
        return created
