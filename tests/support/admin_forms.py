"""The Django admin's project change form (the project and its roles inline), as a browser posts it."""

from __future__ import annotations

from django.contrib.auth.models import User

from releases.models import Project, Role


def project_form(project: Project, roles: list[tuple[Role | None, User, str, bool]], **fields) -> dict:
    """`roles`: (existing role or None, user, role name, delete?) per inline row."""
    data = {
        "auto_publish_releases": "on" if fields.get("auto_publish_releases", project.auto_publish_releases) else "",
        "roles-TOTAL_FORMS": str(len(roles)),
        "roles-INITIAL_FORMS": str(sum(1 for role, *_ in roles if role is not None)),
        "roles-MIN_NUM_FORMS": "0",
        "roles-MAX_NUM_FORMS": "1000",
    }
    for index, (role, user, name, delete) in enumerate(roles):
        data[f"roles-{index}-id"] = str(role.pk) if role else ""
        data[f"roles-{index}-project"] = str(project.pk)
        data[f"roles-{index}-user"] = str(user.pk)
        data[f"roles-{index}-role"] = name
        if delete:
            data[f"roles-{index}-DELETE"] = "on"
    return data
