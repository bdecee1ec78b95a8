from django.db import migrations, models

BATCH = 200


def render_existing(apps, schema_editor):
    """Render the stored descriptions once, so that no page view ever renders one.

    Uses the same bounded renderer as uploads (releases.rendering): a hostile description
    costs at most its time limit here too, and ends as escaped plain text.
    """
    from releases.rendering import render_description

    Release = apps.get_model("releases", "Release")
    rows = (
        Release.objects.using(schema_editor.connection.alias)
        .exclude(description="")
        .only("pk", "description", "description_content_type")
        .order_by("pk")
    )
    batch = []
    for release in rows.iterator(chunk_size=BATCH):
        release.description_html = str(render_description(release.description, release.description_content_type))
        batch.append(release)
        if len(batch) >= BATCH:
            Release.objects.using(schema_editor.connection.alias).bulk_update(batch, ["description_html"])
            batch = []
    if batch:
        Release.objects.using(schema_editor.connection.alias).bulk_update(batch, ["description_html"])


class Migration(migrations.Migration):
    """Descriptions are rendered when uploaded and stored with the release (issue #14)."""

    dependencies = [("releases", "0005_drop_object_deletion")]

    operations = [
        migrations.AddField(
            model_name="release",
            name="description_html",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(render_existing, migrations.RunPython.noop, elidable=True),
    ]
