"""Small WebUI wording an admin reads often: badges, the 403 page, counts, the health check's port."""

from __future__ import annotations

import pytest

from checklists.templatetags.checklists import status_word


def test_check_badges_say_pass_fail_warning_not_run():
    assert [status_word(s) for s in ("pass", "fail", "warn")] == ["Pass", "Fail", "Warning"]
    assert status_word("not_run") == "Not run"


@pytest.mark.django_db
def test_the_403_page_names_the_role_once(client, make_user, make_service):
    client.force_login(make_user("rita", "readonly"))
    page = client.get(f"/services/{make_service().pk}/edit/")
    text = page.content.decode()
    assert page.status_code == 403
    assert text.count("does not allow this") == 1 and "Your role (Read-only) does not allow this." in text


@pytest.mark.django_db
@pytest.mark.parametrize("servers, words", [(1, "Its real server is deleted with it."),
                                            (2, "Its 2 real servers are deleted with it.")])
def test_the_delete_page_counts_real_servers_in_words(client, admin, make_service, servers, words):
    svc = make_service(servers=[{} for _ in range(servers)])
    client.force_login(admin)
    assert words in client.get(f"/services/{svc.pk}/delete/").content.decode()
