"""Whose identity lands on whose account: the rules every purpose (External Accounts, email)
applies to a verified sign-in before anything is stored.

A provider identity (tenant id, object id) belongs to one CRM user per kind of authorization;
someone acting for another user confirms the identity that signed in before it is stored."""

from app.connect import oauth_flow
from app.connect.models import OAuthFlow
from app.connect.provider import SignIn
from app.extensions import db
from app.users.models import User


def refuse_taken(flow: OAuthFlow, result: SignIn, owner: User | None, label: str) -> None:
    """Raise FlowError when the identity is already another CRM user's; an admin is told whose,
    a user is not."""
    if owner is None:
        return
    message = (
        f"This {label} account ({result.username}) is already connected to another CRM user, "
        "so nothing was stored."
    )
    actor = flow_actor(flow)
    if actor is not None and actor.is_admin:
        message += f" It belongs to {owner.full_name} ({owner.username})."
    raise oauth_flow.FlowError(message, 409)


def flow_actor(flow: OAuthFlow) -> User | None:
    """The user who started the flow."""
    return db.session.get(User, flow.actor_id)


def acting_for_notes(flow: OAuthFlow, result: SignIn, subject: User | None, what: str) -> list[str]:
    """What someone acting for `subject` must read before confirming: for whom, and whether the
    identity that signed in looks like that user's."""
    if subject is None or flow.actor_id == flow.target_user_id:
        return []
    return [
        f"You are connecting {what} for {subject.full_name} ({subject.email}). Nothing is "
        "stored until you confirm the account that signed in."
    ]


def mismatch(result: SignIn, subject: User) -> str | None:
    """A plain warning when the signed-in address is not the CRM user's email, else None."""
    if result.username.strip().lower() == (subject.email or "").strip().lower():
        return None
    return (
        f"The account that signed in, {result.username or 'which has no address'}, is not "
        f"{subject.full_name}'s email address in the CRM ({subject.email}). Store it only if "
        f"{subject.full_name} should use this account."
    )


def acting_for_review(notes: list[str], result: SignIn, subject: User) -> oauth_flow.Review:
    """The confirmation asked of someone acting for `subject`: the button says what happens."""
    who = result.name or result.username or "this account"
    warning = mismatch(result, subject)
    return oauth_flow.Review(
        tuple(notes),
        warnings=(warning,) if warning else (),
        confirm_label=f"Store {who}'s access on {subject.full_name}'s account",
        cancel_label="Cancel",
        heading=f"Confirm the account for {subject.full_name}",
    )
