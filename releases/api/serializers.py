"""Shapes of the maintainer API (output only; the writes go through releases.services).

The release shape is fixed by DESIGN.md: `version`, `is_draft`, `created`, `published`,
`draft_index_url`, `preview_url` (absolute URLs while a draft, null once published) and
`files`. A draft's file URLs point into its private index, so a maintainer can fetch
exactly what pip would install from it.
"""

from __future__ import annotations

from urllib.parse import quote

from django.urls import reverse
from django.utils.http import RFC3986_SUBDELIMS
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from releases.links import draft_index_url, preview_url
from releases.models import File, Project, Release
from releases.services import draft_token


def _token(release: Release, context: dict) -> str | None:
    """The draft's token, computed once per release and serialization."""
    if not release.is_draft:
        return None
    cache = context.setdefault("draft_tokens", {})
    if release.pk not in cache:
        cache[release.pk] = draft_token(release)
    return cache[release.pk]


class FileSerializer(serializers.Serializer):
    filename = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField(source="sha256_digest")
    blake2_256 = serializers.CharField(source="blake2_256_digest")
    md5 = serializers.CharField(source="md5_digest")
    packagetype = serializers.ChoiceField(choices=File.PACKAGE_TYPES)
    upload_time = serializers.DateTimeField()
    url = serializers.SerializerMethodField(help_text="Absolute download URL (a draft's file: under its token).")

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, file: File) -> str:
        return _files_base_url(file.release, self.context) + quote(file.path, safe=RFC3986_SUBDELIMS + "/~:@")

    def to_representation(self, file: File) -> dict:
        # The fields above, written out: DRF's generic per-field walk took ~35 ms for the
        # 500 files of a published draft. test_file_entries_match_the_declared_fields keeps
        # the two in step.
        return {
            "filename": file.filename,
            "size": file.size,
            "sha256": file.sha256_digest,
            "blake2_256": file.blake2_256_digest,
            "md5": file.md5_digest,
            "packagetype": file.packagetype,
            "upload_time": self.fields["upload_time"].to_representation(file.upload_time),
            "url": self.get_url(file),
        }


# A sample file path: the URL of any file is the URL of this one with its path swapped.
SAMPLE_PATH = {"aa": "00", "bb": "00", "rest": "0" * 60, "filename": "sample-0-py3-none-any.whl"}


def _files_base_url(release: Release, context: dict) -> str:
    """The absolute URL under which the release's files live (`…/packages/`), built once
    per release and serialization: reversing 500 URLs took longer than the rest."""
    cache = context.setdefault("files_base_urls", {})
    if release.pk not in cache:
        token = _token(release, context)
        if token is None:
            sample = reverse("simpleindex:package-file", kwargs=SAMPLE_PATH)
        else:
            sample = reverse("simpleindex:draft-file", kwargs={"token": token, **SAMPLE_PATH})
        suffix = "/".join(SAMPLE_PATH.values())
        assert sample.endswith(suffix), sample
        cache[release.pk] = context["request"].build_absolute_uri(sample[: -len(suffix)])
    return cache[release.pk]


class ReleaseSerializer(serializers.Serializer):
    version = serializers.CharField()
    is_draft = serializers.BooleanField()
    created = serializers.DateTimeField()
    published = serializers.DateTimeField(allow_null=True, help_text="Null while the release is a draft.")
    draft_index_url = serializers.SerializerMethodField(
        help_text="The draft's private simple index (pip/uv `--extra-index-url`); null once published."
    )
    preview_url = serializers.SerializerMethodField(help_text="The draft's preview page; null once published.")
    files = FileSerializer(many=True)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_draft_index_url(self, release: Release) -> str | None:
        token = _token(release, self.context)
        return draft_index_url(self.context["request"], token) if token else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_preview_url(self, release: Release) -> str | None:
        token = _token(release, self.context)
        return preview_url(self.context["request"], release, token) if token else None


class ReleaseListSerializer(serializers.Serializer):
    project = serializers.CharField(help_text="The project's display name.")
    releases = ReleaseSerializer(many=True, help_text="Drafts first, then published releases, newest first.")


class ProjectSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    normalized_name = serializers.CharField(read_only=True)
    created = serializers.DateTimeField(read_only=True)
    auto_publish_releases = serializers.BooleanField(
        help_text="When false, every new release of this project starts as a draft."
    )
    releases_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_releases_url(self, project: Project) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:release-list", args=[project.normalized_name]))


class StrictBooleanField(serializers.BooleanField):
    """JSON `true` or `false` only: a setting that gates publication is not guessed from "yes"."""

    default_error_messages = {"invalid": "Must be a JSON boolean: true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ProjectSettingsUpdateSerializer(serializers.Serializer):
    auto_publish_releases = StrictBooleanField(
        help_text="When false, every new release of this project starts as a draft."
    )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        api_settings.NON_FIELD_ERRORS_KEY: [
                            f"Unknown field(s): {', '.join(unknown)}. Only 'auto_publish_releases' can be changed."
                        ]
                    }
                )
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in words a person can act on.")
