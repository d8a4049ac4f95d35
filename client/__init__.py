"""The one typed API for starting and acting on relationships (the CLI and the portal share it).

Callers pass a bound in seconds where a person is waiting: without one, a call waits as long
as Temporal does, which is right for tests that kill workers on purpose and wrong for a shell.
"""
