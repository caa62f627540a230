"""The kflab pytest plugin is loaded by `-p kflab.plugin` in pyproject.toml, not from here.

Loading it with -p registers --target before pytest reads the command line; a
conftest would register it too late (see pyproject.toml).
"""
