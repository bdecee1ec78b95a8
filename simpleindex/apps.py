from django.apps import AppConfig


class SimpleIndexConfig(AppConfig):
    name = "simpleindex"
