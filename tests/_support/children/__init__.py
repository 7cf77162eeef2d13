"""The programs the suite's child interpreters run (``child.run_program(name, *args)``).

Each is a script, not a module the children import: it starts as ``__main__`` (host
code, as ``python -c`` code is), and its first act puts the empty string back at the
front of ``sys.path`` where the script's own directory went, so the child sees the
path ``python -c`` would give it (its working directory), and nothing in this directory
becomes importable, grantable or attributable.
"""
