"""Lab 3.4: multi-tenancy: RBAC roles, a ResourceQuota and a LimitRange for one team."""

import pytest

from kflab import manifests, rbac
from kflab.manifests import as_dict, as_list, name_of, quantity
from kflab.failures import expect, fail
from kflab.k8s import ApiRefusal
from kflab.k8s_files import foreign_namespaces

PAUSE = "registry.k8s.io/pause:3.10"
NEEDED = {("Role", "ml-engineer"), ("Role", "viewer"), ("Role", "pipeline-runner"), ("ServiceAccount", "pipeline-runner"),
          ("RoleBinding", "ml-engineers"), ("RoleBinding", "viewers"), ("RoleBinding", "pipeline-runner"),
          ("ResourceQuota", "team-a-quota"), ("LimitRange", "team-a-defaults")}
QUOTA = {"requests.nvidia.com/gpu": 4, "pods": 20, "count/pytorchjobs.kubeflow.org": 5}
DEFAULT_REQUEST = {"cpu": "500m", "memory": "1Gi"}
PEOPLE_ROLES, RUNNER_SECRET = ("ml-engineer", "viewer"), "s3-credentials"
HOME = "team-a"  # the page applies the file with `kubectl apply -n team-a`

# The policy on the lab page, as (who, verb, resource, group, subresource, name, allowed).
ALICE, VIEWER = ("alice", ()), ("bob", ("team-a-viewers",))
POLICY = [
    (ALICE, "create", "pytorchjobs", "kubeflow.org", "", "", True),
    (ALICE, "delete", "trainjobs", "trainer.kubeflow.org", "", "", True),
    (ALICE, "create", "experiments", "kubeflow.org", "", "", True),
    (ALICE, "create", "notebooks", "kubeflow.org", "", "", True),
    (ALICE, "get", "pods", "", "log", "", True),
    (ALICE, "list", "pods", "", "", "", True),
    (ALICE, "list", "events", "", "", "", True),
    (ALICE, "get", "secrets", "", "", "", False),
    (ALICE, "update", "resourcequotas", "", "", "", False),
    (ALICE, "create", "rolebindings", "rbac.authorization.k8s.io", "", "", False),
    (ALICE, "update", "roles", "rbac.authorization.k8s.io", "", "", False),
    (VIEWER, "list", "pytorchjobs", "kubeflow.org", "", "", True),
    (VIEWER, "get", "trainjobs", "trainer.kubeflow.org", "", "", True),
    (VIEWER, "list", "notebooks", "kubeflow.org", "", "", True),
    (VIEWER, "get", "pods", "", "log", "", True),
    (VIEWER, "create", "pytorchjobs", "kubeflow.org", "", "", False),
    (VIEWER, "delete", "trainjobs", "trainer.kubeflow.org", "", "", False),
    (VIEWER, "list", "secrets", "", "", "", False),
    ("runner", "create", "pods", "", "", "", True),
    ("runner", "get", "secrets", "", "", "s3-credentials", True),
    ("runner", "list", "secrets", "", "", "", False),
]


def _who(who, namespace: str) -> tuple[str, tuple[str, ...], str]:
    """(user, groups, words) for a policy row's subject, its ServiceAccount in `namespace`."""
    if who == "runner":
        return (rbac.service_account_user(namespace, "pipeline-runner"),
                ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"), "ServiceAccount pipeline-runner")
    user, groups = who
    return user, groups, f"{user} (group {groups[0]})" if groups else user


def _row_gap(who: str, verb, resource, sub, name, got: bool, allowed: bool) -> str:
    target = f"{resource}/{sub}" if sub else (f"{resource} {name}" if name else resource)
    return (f"{who} {'may' if got else 'may not'} {verb} {target} in the team's namespace, but the policy says "
            f"{'yes' if allowed else 'no'}. Adjust the Role bound to them (or the binding's roleRef and subjects).")


@pytest.fixture(scope="module")
def docs(lab):
    return lab.yaml_docs("tenancy.yaml")


def _rules(docs, role: str | None = None) -> list[tuple[str, dict]]:
    """(role name, rule) for every rule of every Role, or of one Role."""
    return [(name_of(d), as_dict(r)) for d in docs if d.get("kind") == "Role" and role in (None, name_of(d))
            for r in as_list(d.get("rules"))]


def _pod(name, cpu=None, gpus=0):
    resources = {}
    if cpu:
        resources = {"requests": {"cpu": cpu, "memory": "1Gi"}, "limits": {"cpu": cpu, "memory": "1Gi"}}
    if gpus:
        resources.setdefault("limits", {})["nvidia.com/gpu"] = gpus
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": PAUSE, "resources": resources}]}}


@pytest.fixture
def tenant(cluster, namespace, docs):
    """The learner's objects applied in a fresh namespace, with the quota's status computed."""
    broken = manifests.first_problem(docs)
    expect(broken is None, f"tenancy.yaml does not pass its schema yet ({broken}). Fix that first: the cluster "
                           "checks apply the file as it is.")
    try:
        cluster.apply_all(docs, namespace, subjects_from=HOME, file="tenancy.yaml")
    except ApiRefusal as exc:
        fail(f"The API server refused tenancy.yaml: {exc.reason}. Fix that object and run the check again.")
    quotas = [name_of(d) for d in docs if d.get("kind") == "ResourceQuota"]
    for name in quotas:  # quota admission needs the controller to have computed status.used
        cluster.wait("v1", "ResourceQuota", name, namespace, predicate=lambda o: (o.get("status") or {}).get("used") is not None)
    return namespace


def test_file_holds_valid_rbac_quota_and_limit_range_objects(docs):
    """Does tenancy.yaml hold the three Roles, their bindings, the ServiceAccount, the quota and the LimitRange, all valid?"""
    have = {(d.get("kind"), name_of(d)) for d in docs}
    missing = sorted(f"{k} {n}" for k, n in NEEDED - have)
    expect(not missing, f"tenancy.yaml lacks {', '.join(missing)}. Add them as the lab page describes.")
    for doc in docs:
        problems = manifests.problems(doc) or rbac.subject_problems(doc)
        expect(not problems, f"{doc['kind']} {name_of(doc) or '(no name)'}: {problems[0] if problems else ''}.")


def test_roles_and_bindings_grant_what_the_policy_table_says(docs):
    """Applied with `kubectl apply -n team-a` and read as the RBAC authorizer reads them, do the file's Roles and RoleBindings answer every row of the policy?"""
    found = foreign_namespaces(docs, HOME)
    expect(not found, f"{'; '.join(found)}. The file is applied with `kubectl apply -n {HOME}`, which refuses an "
                      f"object of another namespace, and a binding grants only to the ServiceAccount it names: use "
                      f"namespace {HOME} (or leave metadata.namespace out).")
    refs = rbac.unbound_refs(docs)
    expect(not refs, f"RoleBinding {'; '.join(refs)}: the roleRef names no Role of this file. Bind each subject to its "
                     "Role from the policy table (kind: Role, name: ml-engineer, viewer or pipeline-runner).")
    for who, verb, resource, group, sub, name, allowed in POLICY:
        user, groups, words = _who(who, HOME)
        got = rbac.allows(docs, HOME, user, groups, verb, resource, group, sub, name)
        expect(got == allowed, _row_gap(words, verb, resource, sub, name, got, allowed))


def test_roles_grant_no_wildcards(docs):
    """Does every Role list its API groups, resources and verbs instead of using "*"?"""
    for role, rule in _rules(docs):
        for field in ("apiGroups", "resources", "verbs"):
            expect("*" not in as_list(rule.get(field)),
                   f"Role {role} grants `*` in {field}, which includes Secrets and quotas. "
                   "Name exactly the groups, resources and verbs the policy allows.")


def test_only_the_runner_reads_a_secret_and_only_its_own(docs):
    """Do the people's Roles leave Secrets out, and does pipeline-runner only `get` the Secret s3-credentials?"""
    for role in PEOPLE_ROLES:
        granted = [r for _, r in _rules(docs, role) if "secrets" in as_list(r.get("resources"))]
        expect(not granted, f"Role {role} grants access to secrets, which hold the team's credentials. "
                            "Remove `secrets` from its rules; the policy gives people no access to them.")
    for _, rule in _rules(docs, "pipeline-runner"):
        if "secrets" in as_list(rule.get("resources")):
            names, verbs = as_list(rule.get("resourceNames")), as_list(rule.get("verbs"))
            expect(names == [RUNNER_SECRET] and set(verbs) <= {"get"},
                   f"Role pipeline-runner's secrets rule allows {verbs} on {names or 'every Secret'}. Give it "
                   f"`resourceNames: [{RUNNER_SECRET}]` and `verbs: [get]`: the policy allows only `get` of that one Secret.")


def test_quota_caps_gpus_pods_and_training_jobs(docs):
    """Does the ResourceQuota cap GPU requests, pods and PyTorchJobs?"""
    hard = next((as_dict(as_dict(d.get("spec")).get("hard")) for d in docs if d.get("kind") == "ResourceQuota"), {})
    missing = [k for k in QUOTA if k not in hard]
    expect(not missing, f"The quota does not cap {', '.join(missing)}. Add them under spec.hard.")
    wrong = [f"{k} is {hard[k]!r}, not {v}" for k, v in QUOTA.items() if quantity(hard[k]) != v]
    expect(not wrong, f"The quota's caps differ from the team's budget: {'; '.join(wrong)}. Set them as the quota's TODO says (4 GPUs, 20 pods, 5 PyTorchJobs).")


def test_limit_range_defaults_container_requests(docs):
    """Does the LimitRange give containers default requests of cpu 500m and memory 1Gi?"""
    ranges = [d for d in docs if d.get("kind") == "LimitRange"]
    expect(ranges, "tenancy.yaml has no LimitRange, so a pod that states no requests is refused by the quota. "
                   "Add `team-a-defaults` with a `type: Container` entry and its defaultRequest.")
    items = [as_dict(i) for i in as_list(as_dict(ranges[0].get("spec")).get("limits"))]
    got = next((as_dict(i.get("defaultRequest")) for i in items if i.get("type") == "Container"), {})
    wrong = [f"{k} {got.get(k, 'unset')}" for k, v in DEFAULT_REQUEST.items() if quantity(got.get(k)) != quantity(v)]
    expect(not wrong, f"The LimitRange's Container defaultRequest has {', '.join(wrong)}; the page asks for "
                      "cpu 500m and memory 1Gi, so the quota can count pods that state nothing.")


@pytest.mark.cluster
def test_api_server_enforces_the_access_policy(cluster, tenant):
    """Do SubjectAccessReviews against the real API server match the policy, row by row?"""
    # The authorizer learns of new bindings through its caches; wait for one granted row first.
    cluster.eventually(lambda: cluster.can(tenant, "create", "pytorchjobs", "kubeflow.org", user="alice"), timeout_s=10)
    for who, verb, resource, group, sub, name, allowed in POLICY:
        user, groups, words = _who(who, tenant)
        got = cluster.can(tenant, verb, resource, group, user=user, groups=groups, subresource=sub, name=name)
        expect(got == allowed, _row_gap(words, verb, resource, sub, name, got, allowed))
    expect(not cluster.can("default", "create", "pytorchjobs", "kubeflow.org", user="alice"),
           "alice may create PyTorchJobs outside the team's namespace; use Roles and RoleBindings, not cluster-wide grants.")


@pytest.mark.cluster
def test_quota_rejects_a_pod_over_the_gpu_budget(cluster, tenant):
    """Does admission refuse a pod asking for 5 GPUs, and accept one asking for 1?"""
    try:
        cluster.create(_pod("five-gpus", cpu="1", gpus=5), tenant)
        accepted = True
    except ApiRefusal as exc:
        accepted = False
        expect("exceeded quota" in exc.reason, f"The 5-GPU pod was refused, but not by the quota: {exc.reason}")
    expect(not accepted, "A pod asking for 5 GPUs was admitted. Cap requests.nvidia.com/gpu at 4 in the quota.")
    try:
        cluster.create(_pod("one-gpu", cpu="1", gpus=1), tenant)
    except ApiRefusal as exc:
        fail(f"A pod asking for 1 GPU was refused: {exc.reason}. The quota should leave room for it.")


@pytest.mark.cluster
def test_pod_without_requests_gets_the_limit_range_defaults(cluster, tenant):
    """Is a pod that states no requests admitted, with the LimitRange's defaults filled in?"""
    try:
        pod = cluster.create(_pod("no-requests"), tenant).to_dict()
    except ApiRefusal as exc:
        fail(f"A pod without requests was refused ({exc.reason}). A LimitRange with defaultRequest "
             "fills them in, so the quota can count them.")
    requests = pod["spec"]["containers"][0].get("resources", {}).get("requests", {})
    expect(requests.get("cpu") == "500m" and requests.get("memory") == "1Gi",
           f"The admitted pod's requests are {requests or 'empty'}; the LimitRange should default them to cpu 500m, memory 1Gi.")
