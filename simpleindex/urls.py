from django.urls import path, re_path

from simpleindex import views

app_name = "simpleindex"

FILE = r"(?P<aa>[^/]+)/(?P<bb>[^/]+)/(?P<rest>[^/]+)/(?P<filename>[^/]+)"

urlpatterns = [
    path("simple/", views.root, name="root"),
    path("simple/draft/<str:token>/", views.draft_root, name="draft-root"),
    re_path(rf"^simple/draft/(?P<token>[^/]+)/packages/{FILE}$", views.draft_file, name="draft-file"),
    path("simple/draft/<str:token>/<str:project_name>/", views.draft_project_detail, name="draft-project-detail"),
    path("simple/<str:project_name>/", views.project_detail, name="project-detail"),
    re_path(rf"^packages/{FILE}$", views.package_file, name="package-file"),
]
