"""Every state change of projects, releases, files and tokens lives in this package, once.

Views, the upload endpoint, Django admin, the API and management commands call these
functions and never change state themselves. Each one opens a transaction, locks the rows
it changes, checks the actor's rights (`policy`), checks the state, changes it, writes
the public journal (`journal`, only for what becomes public) and the audit log (`audit`),
and raises a domain error otherwise.

    uploads   add_file_to_release: the one write behind every upload door
    drafts    publish_release, discard_draft, rotate_draft_token, purge_expired_drafts
    projects  set_auto_publish, set_role, remove_role, create_project, delete_empty_project
    tokens    create_api_token, revoke_api_token
    storage   repair_storage (check_storage --fix)
    policy    every permission decision
    journal   the journal's one writer; audit: the audit log's one writer; actors: who acts

The names below are the package's public surface: callers import them from here.
"""

from releases.services.actors import Actor
from releases.services.drafts import (
    discard_draft,
    draft_token,
    publish_release,
    purge_expired_drafts,
    rotate_draft_token,
)
from releases.services.projects import (
    RoleError,
    create_project,
    delete_empty_project,
    remove_role,
    set_auto_publish,
    set_role,
)
from releases.services.tokens import create_api_token, revoke_api_token
from releases.services.uploads import LARGE_FILE_BYTES, IncomingFile, UploadOutcome, add_file_to_release

__all__ = [
    "LARGE_FILE_BYTES",
    "Actor",
    "IncomingFile",
    "RoleError",
    "UploadOutcome",
    "add_file_to_release",
    "create_api_token",
    "create_project",
    "delete_empty_project",
    "discard_draft",
    "draft_token",
    "publish_release",
    "purge_expired_drafts",
    "remove_role",
    "revoke_api_token",
    "rotate_draft_token",
    "set_auto_publish",
    "set_role",
]
