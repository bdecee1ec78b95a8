from django.urls import path, register_converter

from releases import views
from releases.uploads import views as upload_views


class DraftSpecConverter:
    """`<version>--draft--<token>`: PEP 440 versions never contain '--'."""

    regex = r"[^/]+?--draft--[^/]+"

    def to_python(self, value: str) -> tuple[str, str]:
        version, _, token = value.partition("--draft--")
        return version, token

    def to_url(self, value: tuple[str, str]) -> str:
        return f"{value[0]}--draft--{value[1]}"


register_converter(DraftSpecConverter, "draftspec")

app_name = "releases"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("legacy/", upload_views.upload, name="upload"),
    path("legacy/draft/", upload_views.upload, {"draft_endpoint": True}, name="upload-draft"),
    path("project/<str:project_name>/", views.project_page, name="project"),
    path("project/<str:project_name>/<draftspec:spec>/", views.preview, name="preview"),
    path("project/<str:project_name>/<str:version>/", views.release_page, name="release"),
]
