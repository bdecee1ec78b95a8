from django.urls import path

from releases.dashboard import views

app_name = "dashboard"

release = "projects/<str:project_name>/releases/<str:version>/"

urlpatterns = [
    path("", views.index, name="index"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke-token"),
    path("projects/<str:project_name>/", views.project_detail, name="project"),
    path("projects/<str:project_name>/settings/", views.project_settings, name="settings"),
    path("projects/<str:project_name>/roles/", views.add_role, name="add-role"),
    path("projects/<str:project_name>/roles/<int:role_id>/remove/", views.remove_role, name="remove-role"),
    path(release, views.release_detail, name="release"),
    path(release + "publish/", views.publish, name="publish"),
    path(release + "discard/", views.discard, name="discard"),
    path(release + "rotate/", views.rotate, name="rotate"),
]
