"""Written into the sandbox as `sitecustomize.py` (on PYTHONPATH) for one run of the suite: it
records which functions of the repo each test calls, so that practice mutates only the code
the passing tests run (the covered functions). Standard library only, Python 3.6+: it runs in
the sandbox's interpreter, not patchlore's.

Each new (file, first line of the code object, current test) is appended as one JSON line to
$PATCHLORE_TRACE_OUT as soon as it is seen, so a run that is killed or calls os._exit keeps
what it recorded. The current test is pytest's PYTEST_CURRENT_TEST ('' outside a test, or
under another runner).
"""

import json
import os
import sys
import threading

_OUT = os.environ.get("PATCHLORE_TRACE_OUT", "")
_ROOT = os.environ.get("PATCHLORE_TRACE_ROOT", "")


def _install():
    root = os.path.realpath(_ROOT) + os.sep
    out = open(_OUT, "a", buffering=1)
    seen = set()
    skip = set()  # code objects outside the repo
    environ = os.environ

    def profile(frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        if code in skip:
            return
        name = code.co_filename
        path = os.path.realpath(name) if name[:1] != "<" else ""
        if not path.startswith(root) or code.co_name == "<module>":
            skip.add(code)
            return
        test = environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
        key = (code, test)
        if key in seen:
            return
        seen.add(key)
        try:
            out.write(json.dumps([path[len(root):], code.co_firstlineno, test]) + "\n")
        except (OSError, ValueError):  # the file was closed at shutdown
            pass

    threading.setprofile(profile)
    sys.setprofile(profile)


def _chain():
    """Run the sitecustomize this one shadows (Debian's, an environment's), if there is one."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if _OUT and _ROOT:
    _install()
_chain()
