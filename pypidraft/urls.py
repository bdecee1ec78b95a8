from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from releases.dashboard.login import RateLimitedAdminAuthenticationForm, RateLimitedAuthenticationForm, throttled

# Both sign-in pages count wrong passwords and answer 429 past the limit (releases/accounts/ratelimit.py).
admin.site.login_form = RateLimitedAdminAuthenticationForm

urlpatterns = [
    path("", include("simpleindex.urls")),
    # PyPI's JSON API, XML-RPC and RSS feeds for mirrors and tools.
    path("", include("simpleindex.pypi_urls")),
    path("", include("releases.urls")),
    path("manage/", include("releases.dashboard.urls")),
    path("api/v1/", include("releases.api.urls")),
    # Sign in, sign out and password change; no password reset, which would need email.
    path(
        "accounts/login/",
        throttled(auth_views.LoginView.as_view(authentication_form=RateLimitedAuthenticationForm)),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("admin/login/", throttled(admin.site.login)),  # admin's own view, answering 429 when limited
    path("admin/", admin.site.urls),
]
