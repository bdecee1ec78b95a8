from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("simpleindex.urls")),
    # PyPI's JSON API, XML-RPC and RSS feeds for mirrors and tools.
    path("", include("simpleindex.pypi_urls")),
    path("", include("releases.urls")),
    path("manage/", include("releases.dashboard.urls")),
    path("api/v1/", include("releases.api.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
