"""RBAC in a learner's file, read offline: what the API server refuses in a binding, and what the Roles grant.

The cluster tier asks a real API server the same questions (SubjectAccessReviews);
offline, `allows` answers them from the file's Roles and RoleBindings with the rules of
Kubernetes' RBAC authorizer (pkg/apis/rbac/v1/evaluation_helpers.go and the
authorizer's appliesToUser), so a Role that grants too little or a binding to the wrong
Role fails before the learner has a cluster. ClusterRoles are not in the file, so a
binding to one grants nothing here.
"""

from __future__ import annotations

from kflab.manifests import as_dict, as_list, name_of

RBAC_GROUP = "rbac.authorization.k8s.io"


def subject_problems(binding: dict) -> list[str]:
    """What the API server's RBAC validation refuses in a binding's subjects, which no schema checks.

    Kubernetes' rules: kind is exactly User, Group or ServiceAccount; a ServiceAccount has
    no apiGroup; a User or Group has apiGroup rbac.authorization.k8s.io (v1 fills it in when empty).
    """
    found = []
    for i, subject in enumerate(as_list(binding.get("subjects"))):
        subject, where = as_dict(subject), f"subjects[{i}]"
        kind, group = subject.get("kind"), subject.get("apiGroup") or ""
        if kind not in ("User", "Group", "ServiceAccount"):
            found.append(f"{where}.kind is {kind!r}; it must be exactly User, Group or ServiceAccount (case-sensitive)")
        elif kind == "ServiceAccount" and group:
            found.append(f"{where} is a ServiceAccount with apiGroup {group!r}; a ServiceAccount (a core object) "
                         "takes no apiGroup, so remove that line")
        elif kind != "ServiceAccount" and group not in ("", RBAC_GROUP):
            found.append(f"{where} is a {kind} with apiGroup {group!r}; a {kind} takes apiGroup {RBAC_GROUP}")
    return found


def service_account_user(namespace: str, name: str) -> str:
    """The user name a ServiceAccount's requests carry."""
    return f"system:serviceaccount:{namespace}:{name}"


def applies_to(subject: dict, user: str, groups: tuple[str, ...], namespace: str) -> bool:
    """Does a binding's subject name this user? A ServiceAccount without a namespace is the binding's own."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return user == name
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        return user == service_account_user(subject.get("namespace") or namespace, str(name))
    return False


def rule_allows(rule: dict, verb: str, resource: str, group: str = "", subresource: str = "", name: str = "") -> bool:
    """Does one PolicyRule allow the request? `*` matches any verb, group or resource; `*/log` any resource's log."""
    combined = f"{resource}/{subresource}" if subresource else resource
    resources = [str(r) for r in as_list(rule.get("resources"))]
    names = as_list(rule.get("resourceNames"))
    return (any(v in ("*", verb) for v in as_list(rule.get("verbs")))
            and any(g in ("*", group) for g in as_list(rule.get("apiGroups")))
            and any(r in ("*", combined) or (subresource and r == f"*/{subresource}") for r in resources)
            and (not names or name in names))


def allows(docs: list[dict], namespace: str, user: str, groups: tuple[str, ...], verb: str, resource: str,
           group: str = "", subresource: str = "", name: str = "") -> bool:
    """Would the file's Roles and RoleBindings, applied in `namespace`, let `user` do this there?"""
    roles = {name_of(d): d for d in docs if d.get("kind") == "Role"}
    for binding in (d for d in docs if d.get("kind") == "RoleBinding"):
        ref = as_dict(binding.get("roleRef"))
        role = roles.get(ref.get("name")) if ref.get("kind") == "Role" else None
        if role is None or not any(applies_to(as_dict(s), user, groups, namespace) for s in as_list(binding.get("subjects"))):
            continue
        if any(rule_allows(as_dict(r), verb, resource, group, subresource, name) for r in as_list(role.get("rules"))):
            return True
    return False


def unbound_refs(docs: list[dict]) -> list[str]:
    """Each RoleBinding whose roleRef names no Role of the file, as 'binding -> Kind name'."""
    roles = {name_of(d) for d in docs if d.get("kind") == "Role"}
    found = []
    for binding in (d for d in docs if d.get("kind") == "RoleBinding"):
        ref = as_dict(binding.get("roleRef"))
        if ref.get("kind") != "Role" or ref.get("name") not in roles:
            found.append(f"{name_of(binding)} -> {ref.get('kind') or '(no kind)'} {ref.get('name') or '(no name)'}")
    return found
