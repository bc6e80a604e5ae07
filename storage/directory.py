"""Queries on the directory: GAL entries, the per-user directory fields, lookups by address."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from easlab.eas.gal import DirectoryEntry

from .models import User
from .models_directory import UserDirectory
from .users import UserError, get_user

TEXT_FIELDS = ("first_name", "last_name", "phone", "office", "title", "company", "home_phone", "mobile_phone",
               "external_address")


def get_directory(session: Session, user: User) -> UserDirectory | None:
    return session.get(UserDirectory, user.id)


def set_directory(session: Session, name: str, *, picture: bytes | None = None, certificate: bytes | None = None,
                  **fields: str | None) -> UserDirectory:
    """Change the directory fields of user `name`; None leaves a field alone, "" / b"" clears it."""
    unknown = set(fields) - set(TEXT_FIELDS)
    if unknown:
        raise UserError(f"unknown directory field(s): {', '.join(sorted(unknown))}")
    user = get_user(session, name)
    if user is None:
        raise UserError(f"no user {name}")
    row = get_directory(session, user) or UserDirectory(user_id=user.id)
    for key, value in fields.items():
        if value is not None:
            setattr(row, key, value.strip())
    if picture is not None:
        row.picture = picture
    if certificate is not None:
        row.certificate = certificate
    session.add(row)
    session.flush()
    return row


def directory_dict(user: User, row: UserDirectory | None, domain: str) -> dict:
    """The directory view of a user, as the CLI prints it."""
    out = {"name": user.name, "address": f"{user.name}@{domain}", "display_name": user.display_name}
    for key in TEXT_FIELDS:
        out[key] = getattr(row, key) if row is not None else ""
    out["picture_bytes"] = len(row.picture) if row is not None else 0
    out["certificate_bytes"] = len(row.certificate) if row is not None else 0
    return out


def directory_entries(session: Session, domain: str) -> list[DirectoryEntry]:
    """Every user as a GAL entry, photos and certificates not loaded (`load_details` does)."""
    d = UserDirectory
    stmt = (
        select(User.id, User.name, User.display_name, d.first_name, d.last_name, d.phone, d.office, d.title, d.company,
               d.home_phone, d.mobile_phone, d.external_address, func.length(d.picture))
        .select_from(User)
        .join(d, d.user_id == User.id, isouter=True)
        .order_by(User.name)
    )
    entries = []
    for (uid, name, display, first, last, phone, office, title, company, home, mobile, external,
         picture_size) in session.execute(stmt):
        entries.append(DirectoryEntry(
            alias=name, email_address=f"{name}@{domain}", display_name=display or "", first_name=first or "",
            last_name=last or "", phone=phone or "", office=office or "", title=title or "", company=company or "",
            home_phone=home or "", mobile_phone=mobile or "", external_address=external or "",
            has_picture=bool(picture_size), user_id=uid,
        ))
    return entries


def load_details(session: Session, entries: list[DirectoryEntry], *, pictures: bool = False,
                 certificates: bool = False) -> None:
    """Fill in photos and/or certificates of `entries`, in one query."""
    ids = {e.user_id for e in entries if e.user_id is not None}
    if not ids or not (pictures or certificates):
        return
    rows = {uid: (picture, certificate) for uid, picture, certificate in session.execute(
        select(UserDirectory.user_id, UserDirectory.picture, UserDirectory.certificate).where(UserDirectory.user_id.in_(ids)))}
    for entry in entries:
        picture, certificate = rows.get(entry.user_id, (b"", b""))
        if pictures:
            entry.picture = picture or None
        if certificates:
            entry.certificates = [certificate] if certificate else []


def find_by_address(session: Session, address: str, domain: str) -> tuple[User, UserDirectory | None] | None:
    """The user whose primary SMTP address is `address` (NAME@DOMAIN, any case)."""
    local, _, at = address.strip().strip("<>").rpartition("@")
    if not local or at.lower() != domain.lower():
        return None
    user = get_user(session, local)
    if user is None:
        return None
    return user, get_directory(session, user)
