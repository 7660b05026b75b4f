from django.db import migrations


def create_sequence_row(apps, schema_editor):
    EventSequence = apps.get_model("core", "EventSequence")
    EventSequence.objects.get_or_create(id=1, defaults={"last_seq": 0})


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(create_sequence_row, migrations.RunPython.noop)]
