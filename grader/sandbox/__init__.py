"""Running untrusted student code: the sandboxed child, its launch, isolation and wire.

The grader's side: :mod:`.box` (``Sandbox``: calls into a child, deadlines, evidence) with
:mod:`.runner` (what a call returns and raises), :mod:`.callbacks` and :mod:`.budget` (the
grader's functions run at the child's request), :mod:`.evidence` (what a call did to its array
arguments, read back by the grader); :mod:`.launch` (cold children, the ``Launcher``),
:mod:`.zygote` (warm ones) and :mod:`.children` (what both have); :mod:`.isolation`,
:mod:`.mounts` and :mod:`.pids` (what the child may see and do); :mod:`.inprocess` (the same
calls in a notebook kernel); :mod:`.limits`, :mod:`.affinity`.

The child's side, run from the child's own copies (``mounts.CHILD_MODULES``), never importing
the grader: ``_child.py`` (the script) with ``_guard``, ``_watch``, ``_world`` and ``_zygote``,
and the modules both sides share: :mod:`.calls` (what a call means), :mod:`.swapping`,
:mod:`.wire` and :mod:`.frames`.
"""
