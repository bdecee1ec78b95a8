from django.db import models


class RenderedPage(models.Model):
    """A public index page rendered once per change and served as stored bytes.

    Kept in the database so that every worker and every app server shares it. A row is
    served only while its `serial` equals the page's current serial, so a publish or an
    upload makes it stale the moment it commits; nothing has to invalidate it.
    """

    key = models.CharField(max_length=64)
    fmt = models.CharField(max_length=8)
    serial = models.BigIntegerField()
    body = models.BinaryField()
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "fmt"], name="rendered_page_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.fmt}) at serial {self.serial}"
