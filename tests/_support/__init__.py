"""Support code for the test suites (imported as ``_support``; ``tests`` is on sys.path).

child          runs code in a fresh interpreter (audit hooks, Landlock domains and
               seccomp filters cannot be undone, so every test that installs one
               runs in a child)
schema_plugin  pytest plugin: checks every audit record the suite produces against
               the JSON Schema when the session ends
guard_tree     the Process Guard fixture tree (host, SDK, library, extension) and
               the child that runs a test body under it
escape_tree    the escape corpus's sandbox (hostile extension ``evil``) and its child
postgres       a throwaway PostgreSQL cluster on a Unix socket
netns          runs a supervisor as root in a network namespace the test creates
media_origin   loopback HTTP origins, real PNGs and a private CA
children/      the programs children run, as real files (linted like any module)
"""
