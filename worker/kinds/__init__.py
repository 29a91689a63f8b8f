"""The kinds of work a worker runs, each one module behind :class:`~worker.kinds.base.RunKind`.

:mod:`worker.kinds.registry` picks the kind of a leased spec.
"""
