"""The offline RBAC reader (kflab.rbac) and the namespace rules for a learner's file (kflab.k8s_files)."""

from types import SimpleNamespace

from kflab import rbac
from kflab.k8s_files import LearnerFiles, foreign_namespaces

ROLE = {"kind": "Role", "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
                  {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s3"], "verbs": ["get"]}]}


def binding(*subjects, role="r", kind="Role", name="b"):
    return {"kind": "RoleBinding", "metadata": {"name": name}, "subjects": list(subjects),
            "roleRef": {"kind": kind, "name": role, "apiGroup": rbac.RBAC_GROUP}}


def test_rbac_subjects_follow_the_api_servers_rules():
    def one(**subject):
        return {"subjects": [{"name": "n", **subject}]}
    assert rbac.subject_problems(one(kind="User", apiGroup="rbac.authorization.k8s.io")) == []
    assert rbac.subject_problems(one(kind="Group")) == [], "v1 fills in a User's or Group's apiGroup"
    assert rbac.subject_problems(one(kind="ServiceAccount", namespace="ns")) == []
    assert "case-sensitive" in rbac.subject_problems(one(kind="user"))[0]
    assert "takes no apiGroup" in rbac.subject_problems(one(kind="ServiceAccount", apiGroup="rbac.authorization.k8s.io"))[0]
    assert "takes apiGroup" in rbac.subject_problems(one(kind="Group", apiGroup="v1"))[0]


def test_a_rule_matches_as_the_authorizer_matches_it():
    rule = ROLE["rules"][0]
    assert rbac.rule_allows(rule, "get", "pods") and rbac.rule_allows(rule, "get", "pods", subresource="log")
    assert not rbac.rule_allows(rule, "delete", "pods"), "a verb the rule does not list"
    assert not rbac.rule_allows(rule, "get", "pods", group="apps"), "another API group"
    assert not rbac.rule_allows(rule, "get", "pods", subresource="exec"), "pods does not cover pods/exec"
    assert rbac.rule_allows({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, "delete", "pods", subresource="exec")
    assert rbac.rule_allows({"apiGroups": [""], "resources": ["*/log"], "verbs": ["get"]}, "get", "pods", subresource="log")
    named = ROLE["rules"][1]
    assert rbac.rule_allows(named, "get", "secrets", name="s3")
    assert not rbac.rule_allows(named, "get", "secrets", name="other"), "resourceNames narrows to the named object"
    assert not rbac.rule_allows(named, "get", "secrets"), "a request without a name does not match resourceNames"


def test_bindings_grant_their_roles_to_the_subjects_they_name():
    docs = [ROLE, binding({"kind": "User", "name": "alice"}, {"kind": "Group", "name": "viewers"},
                          {"kind": "ServiceAccount", "name": "runner"})]
    assert rbac.allows(docs, "team-a", "alice", (), "list", "pods")
    assert not rbac.allows(docs, "team-a", "bob", (), "list", "pods"), "bob is not a subject"
    assert rbac.allows(docs, "team-a", "bob", ("viewers",), "list", "pods"), "bob's group is"
    runner = rbac.service_account_user("team-a", "runner")
    assert rbac.allows(docs, "team-a", runner, (), "get", "secrets", name="s3"), "a ServiceAccount without namespace is the binding's"
    assert not rbac.allows(docs, "team-b", runner, (), "get", "secrets", name="s3"), "applied elsewhere, it names that namespace's"
    assert not rbac.allows([ROLE, binding({"kind": "User", "name": "alice"}, role="other")], "team-a", "alice", (), "list", "pods")
    assert not rbac.allows([ROLE, binding({"kind": "User", "name": "alice"}, kind="ClusterRole")], "team-a", "alice", (), "list", "pods")


def test_bindings_to_roles_outside_the_file_are_named():
    docs = [ROLE, binding(role="r"), binding(role="view", kind="ClusterRole", name="v"), binding(role="gone", name="g")]
    assert rbac.unbound_refs(docs) == ["v -> ClusterRole view", "g -> Role gone"]


def test_objects_and_service_accounts_of_another_namespace_are_named():
    docs = [ROLE, {"kind": "Role", "metadata": {"name": "x", "namespace": "kubeflow"}},
            binding({"kind": "ServiceAccount", "name": "runner", "namespace": "default"}),
            binding({"kind": "ServiceAccount", "name": "ok", "namespace": "team-a"}, name="fine"),
            {"kind": "ConfigMap", "metadata": None, "subjects": "not a list"}]
    assert foreign_namespaces(docs, "team-a") == ["Role x sets metadata.namespace: kubeflow",
                                                  "RoleBinding b binds ServiceAccount default/runner"]


def test_only_subjects_of_the_files_own_namespace_move_with_it():
    files = LearnerFiles()
    files.resource = lambda api_version, kind: SimpleNamespace(namespaced=True)
    doc = binding({"kind": "ServiceAccount", "name": "a", "namespace": "team-a"}, {"kind": "ServiceAccount", "name": "b"},
                  {"kind": "ServiceAccount", "name": "c", "namespace": "kubeflow"}, {"kind": "User", "name": "alice"})
    doc["apiVersion"] = "rbac.authorization.k8s.io/v1"
    moved = files.into_namespace(doc, "kflab-3-4-x", subjects_from="team-a")
    assert moved["metadata"]["namespace"] == "kflab-3-4-x"
    assert [s.get("namespace") for s in moved["subjects"]] == ["kflab-3-4-x", "kflab-3-4-x", "kubeflow", None]
    kept = files.into_namespace(doc, "kflab-3-8-x")
    assert [s.get("namespace") for s in kept["subjects"]] == ["team-a", None, "kubeflow", None], "by default no subject moves"
    assert doc["subjects"][0]["namespace"] == "team-a", "the learner's document itself is left as it was"
