"""A real Kubernetes control plane for CI, built from Go modules (no Docker, no Kind).

`scripts/controlplane build|up|down|status|env` is the command line; see __main__.py.
"""
