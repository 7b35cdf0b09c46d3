"""Exceptions a user can read: each names the field or token and what was expected."""


class SymbpError(Exception):
    """Base class of every error symbp reports to a user (exit status 2 on the CLI)."""


class SpecError(SymbpError, ValueError):
    """A network spec is malformed; the message names the field and what was expected."""

    def __init__(self, field: str, expected: str, got: object = None):
        self.field = field
        self.expected = expected
        self.got = got
        message = f"{field}: expected {expected}"
        if got is not None:
            message += f", got {got!r}"
        super().__init__(message)


class FileError(SpecError):
    """A file cannot be read or written: the message is ``PATH: reason`` (a SpecError whose field is PATH)."""

    def __init__(self, path: object, reason: str):
        self.field, self.expected, self.got = str(path), reason, None
        self.path, self.reason = str(path), reason
        Exception.__init__(self, f"{self.path or repr('')}: {reason}")


class SelfCheckError(AssertionError):
    """A derived rule disagrees with sympy.diff of the explicit loss: a bug, never output."""
