"""Mailbox policies: one is the default; a user may be assigned another."""
from __future__ import annotations

from sqlmodel import Session, select

from easlab.eas.policy import PolicySettings, exchange_default

from .models import Device, Policy, User, utcnow


class PolicyError(ValueError):
    pass


def ensure_default(session: Session) -> Policy:
    """A fresh store gets Exchange's "Default" policy, marked default."""
    default = session.exec(select(Policy).where(Policy.is_default == True)).first()  # noqa: E712
    if default is None:
        default = session.exec(select(Policy).where(Policy.name == "Default")).first()
        if default is None:
            default = Policy(name="Default", settings=exchange_default().to_dict())
        default.is_default = True
        session.add(default)
        session.flush()
    return default


def get_policy(session: Session, name: str) -> Policy | None:
    return session.exec(select(Policy).where(Policy.name == name)).first()


def list_policies(session: Session) -> list[Policy]:
    return list(session.exec(select(Policy).order_by(Policy.name)))


def _make_default(session: Session, policy: Policy) -> None:
    for other in session.exec(select(Policy).where(Policy.is_default == True, Policy.id != policy.id)):  # noqa: E712
        other.is_default = False
        session.add(other)
    policy.is_default = True


def add_policy(session: Session, name: str, settings: PolicySettings, default: bool = False) -> Policy:
    if not name or len(name) > 64:
        raise PolicyError("a policy needs a name of 1-64 characters")
    if get_policy(session, name) is not None:
        raise PolicyError(f"policy {name!r} exists")
    settings.validate()
    policy = Policy(name=name, settings=settings.to_dict())
    session.add(policy)
    session.flush()
    if default:
        _make_default(session, policy)
    return policy


def update_policy(session: Session, name: str, changes: dict, default: bool = False) -> Policy:
    policy = get_policy(session, name)
    if policy is None:
        raise PolicyError(f"no policy {name!r}")
    settings = PolicySettings.from_dict(policy.settings)
    for key, value in changes.items():
        if key not in PolicySettings.names():
            raise PolicyError(f"unknown setting {key}")
        setattr(settings, key, value)
    settings.validate()
    policy.settings = settings.to_dict()
    policy.changed_at = utcnow()
    if default:
        _make_default(session, policy)
    session.add(policy)
    return policy


def assign_policy(session: Session, user: User, name: str) -> None:
    policy = get_policy(session, name)
    if policy is None:
        raise PolicyError(f"no policy {name!r}")
    user.policy_id = policy.id
    session.add(user)


def policy_for(session: Session, user: User) -> Policy:
    if user.policy_id is not None:
        policy = session.get(Policy, user.policy_id)
        if policy is not None:
            return policy
    return ensure_default(session)


def users_of(session: Session, policy: Policy) -> list[int]:
    """Ids of the users a policy applies to (assigned, or by default)."""
    query = select(User.id).where(User.policy_id == policy.id)
    if policy.is_default:
        query = select(User.id).where((User.policy_id == policy.id) | (User.policy_id == None))  # noqa: E711
    return list(session.exec(query))


def devices_of(session: Session, user_ids: list[int]) -> list[Device]:
    return list(session.exec(select(Device).where(Device.user_id.in_(user_ids)))) if user_ids else []
