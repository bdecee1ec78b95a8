from __future__ import annotations

from django import forms

from releases.models import Project, Role


class AutoPublishForm(forms.Form):
    auto_publish_releases = forms.BooleanField(
        required=False,
        label="Publish new releases at once",
        help_text=(
            "On: an upload of a new version makes it public immediately, unless the upload asks "
            "for a draft (the /legacy/draft/ endpoint or the Is-Draft: true header). "
            "Off: every new version starts as a draft that only owners and maintainers can see, "
            "until someone publishes it here, in the API or in Django admin."
        ),
    )


class RoleForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username")
    role = forms.ChoiceField(choices=Role.CHOICES, initial=Role.MAINTAINER)


class ApiTokenForm(forms.Form):
    description = forms.CharField(
        max_length=200, required=False, help_text="What uses it, e.g. “GitHub Actions release job”."
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        required=False,
        empty_label="All my projects",
        label="Scope",
        help_text="A token scoped to one project can upload and publish only there. You can scope to projects you own.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.filter(roles__user=user, roles__role=Role.OWNER)
