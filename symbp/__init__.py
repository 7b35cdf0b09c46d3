"""symbp: backpropagation derived with SymPy, checked, typeset and compiled."""
from .derive import Derivation, derive
from .errors import SelfCheckError, SpecError, SymbpError
from .network import Network
from .spec import Spec, builtin_spec, load_spec

__all__ = ["Derivation", "Network", "SelfCheckError", "Spec", "SpecError", "SymbpError",
           "builtin_spec", "derive", "load_spec"]
__version__ = "0.1.0"
