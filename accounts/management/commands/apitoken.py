from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken
from audit.context import acting_as
from audit.models import ChangeRecord
from audit.recording import record


class Command(BaseCommand):
    help = "Create an API token for a user and print its key (shown once; only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--user", default="admin")
        parser.add_argument("--name", default="cli", help="What the token is for.")

    def handle(self, *args, user, name, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user '{user}'.")
        with acting_as(owner, f"cli:{owner.username}"):
            token, key = ApiToken.issue(owner, name)
            record(ChangeRecord.CREATE, token, object_type="apitoken", summary=f"API token '{name}' created")
        self.stdout.write(key)
