"""Errors a command raises. Each says what happened in words a user can act on; the command that raised
it has changed nothing."""


class GovflowError(Exception):
    code = "error"

    def __init__(self, message: str, details: list | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict:
        result = {"error": self.code, "message": self.message}
        if self.details:
            result["details"] = self.details
        return result


class NotFound(GovflowError):
    code = "not_found"


class Forbidden(GovflowError):
    code = "forbidden"


class Conflict(GovflowError):
    """The state changed under the caller: a concurrent step, or a task no longer open."""
    code = "conflict"


class InvalidInput(GovflowError):
    code = "invalid_input"


class InvalidDiagram(GovflowError):
    code = "invalid_diagram"


class InstanceFailed(GovflowError):
    """The engine could not advance the instance; it is marked failed with this reason."""
    code = "instance_failed"
