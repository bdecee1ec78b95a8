"""The maintainer API: thin DRF views over releases.services.

Who may know what:

- anonymous or bad credentials: 401 with `WWW-Authenticate: Basic`;
- a token whose user has no role on the project, or that is scoped to another project:
  404 for anything that would reveal a draft (a draft's version, a project that only has
  drafts, an unknown name all look the same), 403 for what the public already sees;
- owners and maintainers: releases, publish, discard, rotate; owners only: settings.

Every write goes through the same service as the web dashboard, admin and commands, with
an `Actor` on the "api" channel that records the token used.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, Prefetch
from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from packaging.utils import canonicalize_name
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from pypidraft.logscrub import scrub
from releases import errors, selectors, services
from releases.accounts.authentication import Principal
from releases.api.authentication import CREDENTIALS_HELP, ApiTokenAuthentication
from releases.api.serializers import (
    ErrorSerializer,
    ProjectSerializer,
    ProjectSettingsUpdateSerializer,
    ReleaseListSerializer,
    ReleaseSerializer,
)
from releases.http import private
from releases.models import AuditEvent, File, Project, Release
from releases.services import policy


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The release is not in a state that allows this."
    default_code = "conflict"


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid request."
    default_code = "invalid"


def _first_message(detail: Any) -> str:
    """Flatten DRF validation details to one sentence, naming the field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Domain errors become HTTP statuses; every error body is `{"detail": "..."}`."""
    if isinstance(exc, errors.ReleaseStateError):
        exc = Conflict(str(exc))
    elif isinstance(exc, errors.PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc))
    elif isinstance(exc, errors.NotFound):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, exceptions.ValidationError):
        exc = BadRequest(_first_message(exc.detail))
    elif isinstance(exc, exceptions.NotAuthenticated):
        # Keeps `auth_header`, set by DRF, for the WWW-Authenticate challenge.
        exc.detail = "Authentication required. " + CREDENTIALS_HELP
    return exception_handler(exc, context)


PROJECT_PARAM = OpenApiParameter(
    "project_name", str, OpenApiParameter.PATH, description="The project's name (any spelling that normalizes to it)."
)
VERSION_PARAM = OpenApiParameter(
    "version", str, OpenApiParameter.PATH, description="The version, as uploaded or in an equivalent PEP 440 spelling."
)

ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No or invalid API token."),
    403: OpenApiResponse(ErrorSerializer, description="The token's user lacks the right on this project."),
    404: OpenApiResponse(
        ErrorSerializer, description="No such project or release, or one this token may not know about."
    ),
}


class MaintainerView(APIView):
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self):
        return api_exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Draft URLs carry their secret token: no cache may keep these answers. The API's own
        # URLs hold none.
        return private(response, token_in_url=False)

    # --- lookups ----------------------------------------------------------------------

    @property
    def principal(self) -> Principal:
        return self.request.auth

    def actor(self) -> services.Actor:
        return services.Actor.for_request(self.request, AuditEvent.API, self.principal)

    def role_on(self, project: Project) -> str | None:
        """The caller's role on the project through this token (None: no role, or out of scope)."""
        return policy.project_role(self.actor(), project)

    def deny(self, project: Project) -> exceptions.PermissionDenied:
        token = self.principal.token
        if token is not None and not policy.token_allows(token, project):
            return exceptions.PermissionDenied(
                f"This API token is scoped to the project '{token.project.name}' and grants nothing on "
                f"'{project.name}'. Use a token for '{project.name}' or one without a project scope."
            )
        return exceptions.PermissionDenied(
            f"The user '{self.principal.user.get_username()}' has no role on '{project.name}'. "
            "Ask an owner of the project to add you as a maintainer."
        )

    def get_project(self, project_name: str, *, owner: bool = False) -> Project:
        """The project, if the caller has a role on it (the owner role when `owner`)."""
        project = Project.objects.filter(normalized_name=canonicalize_name(project_name)).first()
        role = self.role_on(project) if project is not None else None
        if role is None:
            # A project that only has drafts is as unknown to outsiders as a missing one.
            if project is None or not Project.objects.public().filter(pk=project.pk).exists():
                raise exceptions.NotFound(f"No project named '{project_name}'.")
            raise self.deny(project)
        if owner:
            policy.require_owner(self.actor(), project, "read or change its settings")
        return project

    def get_release(self, project_name: str, version: str, *, with_files: bool = True) -> Release:
        """The release, if the caller has a role on its project; outsiders never learn of a draft.
        An action that answers with release_response() needs no files here."""
        project = Project.objects.filter(normalized_name=canonicalize_name(project_name)).first()
        if project is None or self.role_on(project) is None:
            # Outsiders: a draft and a missing version cost the same lookup and get the same 404.
            public = Release.objects.published().filter(project=project) if project else None
            if public is None or selectors.find_release(public, version) is None:
                raise exceptions.NotFound(f"No release {version} of a project named '{project_name}'.")
            raise self.deny(project)
        release = selectors.find_release(_releases(with_files=with_files).filter(project=project), version)
        if release is None:
            raise exceptions.NotFound(f"{project.name} has no release {version}.")
        return release

    def release_response(self, release: Release) -> Response:
        """The release as it is now, re-read with its files after a change."""
        release = _releases().get(pk=release.pk)
        return Response(ReleaseSerializer(release, context={"request": self.request}).data)


def _releases(*, with_files: bool = True):
    releases = Release.objects.select_related("project")
    if not with_files:
        return releases
    # The core metadata blobs (PEP 658) are not part of the answer.
    return releases.prefetch_related(Prefetch("files", queryset=File.objects.order_by("filename").defer("metadata")))


# --- endpoints -----------------------------------------------------------------------------


class ProjectView(MaintainerView):
    @extend_schema(
        operation_id="project_retrieve",
        parameters=[PROJECT_PARAM],
        summary="A project's settings",
        description="Owners only.",
        responses={200: OpenApiResponse(ProjectSerializer, description="The project's settings."), **ERRORS},
        tags=["projects"],
    )
    def get(self, request: Request, project_name: str) -> Response:
        project = self.get_project(project_name, owner=True)
        return Response(ProjectSerializer(project, context={"request": request}).data)

    @extend_schema(
        operation_id="project_update",
        parameters=[PROJECT_PARAM],
        summary="Change a project's settings",
        description=(
            "Owners only. `auto_publish_releases: false` makes every new release start as a draft "
            "(publish it with `POST …/releases/<version>/publish/`)."
        ),
        request=ProjectSettingsUpdateSerializer,
        responses={
            200: OpenApiResponse(ProjectSerializer, description="Changed; the new settings."),
            400: OpenApiResponse(
                ErrorSerializer, description="Not a JSON object with a boolean `auto_publish_releases`."
            ),
            **ERRORS,
        },
        tags=["projects"],
    )
    def patch(self, request: Request, project_name: str) -> Response:
        project = self.get_project(project_name, owner=True)
        update = ProjectSettingsUpdateSerializer(data=request.data)
        update.is_valid(raise_exception=True)
        services.set_auto_publish(
            project=project, enabled=update.validated_data["auto_publish_releases"], actor=self.actor()
        )
        project.refresh_from_db()
        return Response(ProjectSerializer(project, context={"request": request}).data)


class ReleaseListView(MaintainerView):
    @extend_schema(
        operation_id="release_list",
        parameters=[PROJECT_PARAM],
        summary="A project's releases, drafts first",
        description=(
            "Drafts come first (newest first) with their private `draft_index_url` and `preview_url`; "
            "then published releases, newest first, whose draft URLs are null."
        ),
        responses={200: OpenApiResponse(ReleaseListSerializer, description="The releases, drafts first."), **ERRORS},
        tags=["releases"],
    )
    def get(self, request: Request, project_name: str) -> Response:
        project = self.get_project(project_name)
        releases = _releases().filter(project=project)
        ordered = list(releases.drafts().order_by("-created", "-pk")) + list(
            releases.published().order_by(F("published").desc(), "-created", "-pk")
        )
        data = ReleaseListSerializer({"project": project.name, "releases": ordered}, context={"request": request}).data
        return Response(data)


class ReleaseView(MaintainerView):
    @extend_schema(
        operation_id="release_retrieve",
        parameters=[PROJECT_PARAM, VERSION_PARAM],
        summary="One release",
        responses={200: OpenApiResponse(ReleaseSerializer, description="The release."), **ERRORS},
        tags=["releases"],
    )
    def get(self, request: Request, project_name: str, version: str) -> Response:
        return self.release_response(self.get_release(project_name, version))

    @extend_schema(
        operation_id="release_discard",
        parameters=[PROJECT_PARAM, VERSION_PARAM],
        summary="Discard a draft",
        description="Deletes the draft and its files. A published release cannot be deleted (409).",
        request=None,
        responses={
            204: OpenApiResponse(description="Discarded."),
            409: OpenApiResponse(ErrorSerializer, description="The release is published."),
            **ERRORS,
        },
        tags=["releases"],
    )
    def delete(self, request: Request, project_name: str, version: str) -> Response:
        release = self.get_release(project_name, version, with_files=False)
        services.discard_draft(release=release, actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class PublishView(MaintainerView):
    @extend_schema(
        operation_id="release_publish",
        parameters=[PROJECT_PARAM, VERSION_PARAM],
        summary="Publish a draft",
        description=(
            "Makes the draft public in one step: the simple index, the JSON API, mirrors. "
            "Old draft links redirect to the public pages. An already published release answers 409 "
            "and nothing changes."
        ),
        request=None,
        responses={
            200: OpenApiResponse(ReleaseSerializer, description="Published; the release as it is now."),
            409: OpenApiResponse(
                ErrorSerializer, description="Already published, or the draft expired; nothing changed."
            ),
            **ERRORS,
        },
        tags=["releases"],
    )
    def post(self, request: Request, project_name: str, version: str) -> Response:
        release = self.get_release(project_name, version, with_files=False)
        published = services.publish_release(release=release, actor=self.actor())
        return self.release_response(published)


class RotateTokenView(MaintainerView):
    @extend_schema(
        operation_id="release_rotate_token",
        parameters=[PROJECT_PARAM, VERSION_PARAM],
        summary="Give a draft a new secret link",
        description="The old `draft_index_url` and `preview_url` stop working at once; the answer has the new ones.",
        request=None,
        responses={
            200: OpenApiResponse(ReleaseSerializer, description="The draft with its new links."),
            409: OpenApiResponse(ErrorSerializer, description="The release is published; it has no draft link."),
            **ERRORS,
        },
        tags=["releases"],
    )
    def post(self, request: Request, project_name: str, version: str) -> Response:
        release = self.get_release(project_name, version, with_files=False)
        services.rotate_draft_token(release=release, actor=self.actor())
        return self.release_response(release)


@csrf_exempt  # changes nothing; answers every method with a JSON 404
def not_found(request: HttpRequest) -> JsonResponse:
    message = f"No API endpoint at {scrub(request.path)}."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "not-found":
            message += f" Did you mean {scrub(request.path)}/ (with a trailing slash)?"
    return JsonResponse({"detail": message}, status=404)
