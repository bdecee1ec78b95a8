"""The maintainer API, mounted at /api/v1/ (namespace "api")."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from releases.api import docs, views

app_name = "api"

RELEASE = "projects/<str:project_name>/releases/<str:version>/"

urlpatterns = [
    path("projects/<str:project_name>/", views.ProjectView.as_view(), name="project"),
    path("projects/<str:project_name>/releases/", views.ReleaseListView.as_view(), name="release-list"),
    path(RELEASE, views.ReleaseView.as_view(), name="release"),
    path(RELEASE + "publish/", views.PublishView.as_view(), name="publish"),
    path(RELEASE + "rotate-token/", views.RotateTokenView.as_view(), name="rotate-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.docs, name="docs"),
    path("", docs.docs, name="root"),
    # Anything else under /api/v1/ answers in JSON too, not with the site's HTML 404 page.
    re_path(r"^.*$", views.not_found, name="not-found"),
]
