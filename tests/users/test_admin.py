"""Admin page and User Management."""

from sqlalchemy import func, select

from app.extensions import db
from app.users.models import AuditEvent, User
from tests.conftest import count_statements


def _user(username):
    return db.session.scalar(select(User).where(User.username == username))


def test_non_admin_gets_403(auth, client):
    auth.login()
    for path in ("/admin/", "/admin/users", "/admin/users/new", "/admin/users/1/edit"):
        assert client.get(path).status_code == 403, path


def test_admin_menu_only_for_admins(auth, client):
    auth.login()
    assert ">Admin</a>" not in client.get("/home").get_data(as_text=True)
    auth.logout()
    auth.login("admin", "admin-password")
    assert ">Admin</a>" in client.get("/home").get_data(as_text=True)
    assert "User Management" in client.get("/admin/").get_data(as_text=True)


def test_create_user_who_can_sign_in(auth, client):
    auth.login("admin", "admin-password")
    response = client.post(
        "/admin/users/new",
        data={
            "username": "newbie",
            "email": "newbie@crm.example",
            "password": "newbie-pass",
            "first_name": "New",
            "time_zone": "UTC",
        },
    )
    assert response.status_code == 302
    assert db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "user.created", AuditEvent.target_name == "newbie"
        )
    )
    auth.logout()
    assert auth.login("newbie", "newbie-pass").status_code == 302


def test_duplicate_username_or_email_is_a_form_error(auth, client):
    auth.login("admin", "admin-password")
    before = db.session.scalar(select(func.count(User.id)))
    for data in (
        {"username": "Sally", "email": "x@crm.example"},
        {"username": "other", "email": "SALLY@crm.example"},
    ):
        response = client.post(
            "/admin/users/new", data={**data, "password": "password-1", "time_zone": "UTC"}
        )
        assert response.status_code == 400
        assert "already" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id))) == before


def test_short_password_is_a_form_error(auth, client):
    auth.login("admin", "admin-password")
    response = client.post(
        "/admin/users/new",
        data={
            "username": "shorty",
            "email": "s@crm.example",
            "password": "abc",
            "time_zone": "UTC",
        },
    )
    assert response.status_code == 400
    assert _user("shorty") is None


def test_admin_edits_flags(auth, client):
    auth.login("admin", "admin-password")
    sally = _user("sally")
    response = client.post(
        f"/admin/users/{sally.id}/edit/user-profile",
        data={"email": "sally@crm.example", "time_zone": "UTC", "is_admin": "y"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    sally = _user("sally")
    assert sally.is_admin and not sally.active


def test_admin_sets_a_password(auth, client):
    auth.login("admin", "admin-password")
    sally = _user("sally")
    response = client.post(
        f"/admin/users/{sally.id}/edit/password",
        data={"new_password": "reset-pass-1", "confirm_password": "reset-pass-1"},
    )
    assert response.status_code == 302
    auth.logout()
    assert auth.login("sally", "reset-pass-1").status_code == 302


def test_deactivate_from_the_list(auth, client):
    auth.login("admin", "admin-password")
    sally = _user("sally")
    assert client.post(f"/admin/users/{sally.id}/deactivate").status_code == 302
    db.session.expire_all()
    assert not _user("sally").active


def test_delete_asks_first_then_deletes(auth, client):
    auth.login("admin", "admin-password")
    sally = _user("sally")
    page = client.get(f"/admin/users/{sally.id}/delete").get_data(as_text=True)
    assert "Delete user sally?" in page
    assert _user("sally") is not None
    assert client.post(f"/admin/users/{sally.id}/delete").status_code == 302
    assert _user("sally") is None
    event_ = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.deleted"))
    assert event_.target_name == "sally" and event_.target_user_id is None


def test_deleting_the_last_admin_is_refused(auth, client):
    auth.login("admin", "admin-password")
    admin = _user("admin")
    response = client.post(f"/admin/users/{admin.id}/delete")
    assert response.status_code == 409
    assert "last active admin" in response.get_data(as_text=True)
    assert _user("admin") is not None


def test_demoting_the_last_admin_is_refused(auth, client):
    auth.login("admin", "admin-password")
    admin = _user("admin")
    response = client.post(
        f"/admin/users/{admin.id}/edit/user-profile",
        data={"email": "admin@crm.example", "time_zone": "UTC", "active": "y"},
    )
    assert response.status_code == 400
    db.session.expire_all()
    assert _user("admin").is_admin


def test_search_and_pagination(auth, client, app):
    for n in range(30):
        db.session.add(
            User(username=f"bulk{n:03}", email=f"bulk{n:03}@crm.example", password_hash="x")
        )
    db.session.commit()
    auth.login("admin", "admin-password")
    first = client.get("/admin/users?q=bulk").get_data(as_text=True)
    assert "bulk000" in first and "bulk029" not in first and "Page 1 of 2" in first
    second = client.get("/admin/users?q=bulk&page=2").get_data(as_text=True)
    assert "bulk029" in second
    assert "No user matches" in client.get("/admin/users?q=zzzz").get_data(as_text=True)
    assert client.get("/admin/users?page=abc").status_code == 200


def test_user_list_statement_count_does_not_grow(auth, client, app):
    auth.login("admin", "admin-password")
    db.session.add_all(
        User(username=f"s{n:02}", email=f"s{n:02}@x.example", password_hash="x") for n in range(30)
    )
    db.session.commit()
    small = count_statements(client, "/admin/users?page=2")
    db.session.execute(
        User.__table__.insert(),
        [
            {
                "username": f"u{n:05}",
                "email": f"u{n:05}@crm.example",
                "password_hash": "x",
                "first_name": "",
                "last_name": "",
                "title": "",
                "department": "",
                "phone": "",
                "time_zone": "UTC",
                "is_admin": False,
                "active": True,
            }
            for n in range(2000)
        ],
    )
    db.session.commit()
    large = count_statements(client, "/admin/users?page=40")
    assert small == large <= 5
