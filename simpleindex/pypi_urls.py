"""PyPI's read APIs for tools and mirrors, mounted at the site root (namespace "pypi")."""

from django.urls import path

from simpleindex import feeds, jsonapi, xmlrpc

app_name = "pypi"

urlpatterns = [
    # Mirrors post to `<master>/pypi`, with no trailing slash.
    path("pypi", xmlrpc.endpoint, name="xmlrpc"),
    path("pypi/", xmlrpc.endpoint, name="xmlrpc-slash"),
    path("pypi/<str:project_name>/json", jsonapi.project_json, name="project-json"),
    path("pypi/<str:project_name>/<str:version>/json", jsonapi.release_json, name="release-json"),
    path("rss/updates.xml", feeds.LatestUpdatesFeed(), name="rss-updates"),
    path("rss/project/<str:project_name>/releases.xml", feeds.ProjectReleasesFeed(), name="rss-project-releases"),
]
