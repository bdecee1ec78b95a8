app_name = "pypi"

urlpatterns: list = []
