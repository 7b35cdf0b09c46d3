"""symbp: backpropagation derived with SymPy, checked, typeset and compiled."""
from .compile import compile_network
from .derive import Derivation, derive
from .errors import SelfCheckError, SpecError, SymbpError
from .example import worked_example
from .network import Network
from .spec import Spec, builtin_spec, load_spec
from .verify import VerifyResult, verify

__all__ = ["Derivation", "Network", "SelfCheckError", "Spec", "SpecError", "SymbpError", "VerifyResult",
           "builtin_spec", "compile_network", "derive", "load_spec", "verify", "worked_example"]
__version__ = "0.1.0"
