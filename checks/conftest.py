"""Load the kflab pytest plugin for every check under checks/."""

from kflab.plugin import *  # noqa: F401,F403  (pytest finds the hooks and fixtures by name)
