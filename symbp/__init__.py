"""symbp: backpropagation derived with SymPy, checked, typeset and compiled."""
from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

from .compile import compile_network
from .derive import Derivation, derive
from .errors import FileError, SelfCheckError, SpecError, SymbpError
from .example import worked_example
from .exercises import draw_variant, load_exercise_spec, load_roster
from .export import export
from .grade import grade_class, write_grades
from .network import Network
from .notes import render_notes
from .sheets import write_exercises
from .spec import Spec, builtin_spec, load_spec
from .verify import VerifyResult, verify

try:                                  # one source of truth: pyproject.toml's version, via the installed metadata
    __version__ = _version("symbp")
except _NotInstalled:                 # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Derivation", "FileError", "Network", "SelfCheckError", "Spec", "SpecError", "SymbpError", "VerifyResult",
           "builtin_spec", "compile_network", "derive", "draw_variant", "export", "grade_class",
           "load_exercise_spec", "load_roster", "load_spec", "render_notes", "verify", "worked_example",
           "write_exercises", "write_grades"]
