"""Domain errors. Edges (views, API, admin, commands) turn them into responses."""


class UploadError(Exception):
    """A rejected upload: an HTTP status and a message a person can act on."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ReleaseStateError(Exception):
    """A state change that the release's current state does not allow (HTTP 409)."""


class NotFound(Exception):
    """What the caller asked for does not exist, or they may not know it exists (HTTP 404)."""


class PermissionDenied(Exception):
    """The caller is known but lacks the right (HTTP 403)."""
