from django.db import migrations


class Migration(migrations.Migration):
    """Uploads now write their object under the storage key's lock, so a cleanup can no
    longer delete it between the write and the lock: the tombstones are not needed."""

    dependencies = [("releases", "0004_object_deletion")]

    operations = [migrations.DeleteModel(name="ObjectDeletion")]
