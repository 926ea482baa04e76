"""Profile view and the Edit tabs."""

from sqlalchemy import select

from app.extensions import db
from app.users.models import User


def _sally():
    return db.session.scalar(select(User).where(User.username == "sally"))


def test_profile_shows_the_record(auth, client):
    auth.login()
    html = client.get("/profile/").get_data(as_text=True)
    for label in (
        "First Name",
        "Last Name",
        "Username",
        "Email",
        "Title",
        "Department",
        "Phone",
        "Time Zone",
        "Edit",
        "sally@crm.example",
    ):
        assert label in html


def test_edit_tabs_are_addressable(auth, client):
    auth.login()
    profile = client.get("/profile/edit/user-profile").get_data(as_text=True)
    password = client.get("/profile/edit/password").get_data(as_text=True)
    assert 'aria-current="page" class="active">User Profile' in profile
    assert 'aria-current="page" class="active">Password' in password
    assert client.get("/profile/edit/nope").status_code == 404


def test_edit_profile_saves(auth, client):
    auth.login()
    response = client.post(
        "/profile/edit/user-profile",
        data={
            "first_name": "Sal",
            "last_name": "B",
            "email": "SAL@crm.example",
            "title": "VP",
            "department": "Sales",
            "phone": "+1 555 0100",
            "time_zone": "Europe/Berlin",
        },
    )
    assert response.status_code == 302
    user = _sally()
    assert (user.first_name, user.email, user.time_zone) == (
        "Sal",
        "sal@crm.example",
        "Europe/Berlin",
    )


def test_edit_profile_rejects_a_taken_email_and_keeps_the_record(auth, client):
    auth.login()
    response = client.post(
        "/profile/edit/user-profile",
        data={"first_name": "X", "email": "admin@crm.example", "time_zone": "UTC"},
    )
    assert response.status_code == 400
    assert "already used" in response.get_data(as_text=True)
    db.session.expire_all()
    assert _sally().first_name == "Sally"


def test_edit_profile_rejects_an_unknown_time_zone(auth, client):
    auth.login()
    response = client.post(
        "/profile/edit/user-profile", data={"email": "sally@crm.example", "time_zone": "Mars/Base"}
    )
    assert response.status_code == 400


def test_change_password_needs_the_current_one(auth, client):
    auth.login()
    response = client.post(
        "/profile/edit/password",
        data={
            "current_password": "wrong-one",
            "new_password": "new-password-1",
            "confirm_password": "new-password-1",
        },
    )
    assert response.status_code == 400
    assert "current password is not correct" in response.get_data(as_text=True)
    assert _sally().check_password("sally-password")


def test_change_password_too_short(auth, client):
    auth.login()
    response = client.post(
        "/profile/edit/password",
        data={
            "current_password": "sally-password",
            "new_password": "short",
            "confirm_password": "short",
        },
    )
    assert response.status_code == 400
    assert "at least 8 characters" in response.get_data(as_text=True)


def test_change_password_then_sign_in_with_it(auth, client):
    auth.login()
    response = client.post(
        "/profile/edit/password",
        data={
            "current_password": "sally-password",
            "new_password": "new-password-1",
            "confirm_password": "new-password-1",
        },
    )
    assert response.status_code == 302
    auth.logout()
    assert auth.login(password="sally-password").status_code == 401
    assert auth.login(password="new-password-1").status_code == 302
