"""The applied state becomes a versioned JSON journal. Old pickled rows are not decoded (no pickle
anywhere): their journal is left empty, which the writer treats as untrusted and re-reads the kernel."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cluster", "0002_apply")]

    operations = [
        migrations.CreateModel(
            name="JournalEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("ops", models.JSONField(help_text="dataplane.journal encode_ops() document.")),
                ("time", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["id"], "verbose_name_plural": "journal entries"},
        ),
        migrations.RemoveField(model_name="appliedstate", name="state"),
        migrations.AddField(
            model_name="appliedstate", name="journal",
            field=models.JSONField(null=True, help_text="dataplane.journal document; another schema version "
                                                        "is not trusted (the writer re-reads the kernel)."),
        ),
        migrations.AddField(
            model_name="appliedstate", name="verified",
            field=models.BooleanField(default=True, help_text="False once drift was seen: the next writer "
                                                              "reads the kernel before it plans."),
        ),
    ]
