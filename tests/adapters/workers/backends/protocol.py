"""A sibling module named like one of the harness's: imports_sibling.py must get this one."""

NAME = "the backend's own protocol module"
