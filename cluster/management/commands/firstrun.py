import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import Profile
from accounts.roles import ADMIN


class Command(BaseCommand):
    help = "On first start, create the 'admin' user with a random password and print it once."

    def handle(self, *args, **options):
        users = get_user_model()
        if users.objects.exists():
            self.stdout.write("Users exist already; log in with yours.")
            return
        password = secrets.token_urlsafe(12)
        user = users.objects.create_user("admin", password=password, is_staff=True)
        Profile.objects.create(user=user, role=ADMIN)
        bar = "=" * 64
        self.stdout.write(f"{bar}\n First start: log in as  admin / {password}\n"
                          f" (shown once; change it under Maintenance › Users)\n{bar}")
