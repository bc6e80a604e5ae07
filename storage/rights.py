"""Rights policy templates (MS-ASRM emulation): the administrator's, with Exchange's built-in
Do Not Forward, and whether IRM is on for the organisation."""
from __future__ import annotations

from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, select

from easlab.eas.rights import DEFAULT_TEMPLATES, Template

from .types import JSONDict, empty_dict


class RightsTemplate(SQLModel, table=True):
    """One template the administrator added (Exchange imports them from the RMS server)."""

    __tablename__ = "rights_template"
    id: int | None = Field(default=None, primary_key=True)
    template_id: str = Field(max_length=64, unique=True)  # kept lower-case: clients send either case
    # eas.rights.Template.to_dict(): name, description, the rights and expiry_days.
    data: dict = Field(default_factory=empty_dict, sa_column=Column(JSONDict, nullable=False, default=dict))


class RightsSettings(SQLModel, table=True):
    """One row: Exchange's IRMConfiguration InternalLicensingEnabled, as far as EAS sees it."""

    __tablename__ = "rights_settings"
    id: int | None = Field(default=None, primary_key=True)
    enabled: bool = True


def irm_enabled(session: Session) -> bool:
    row = session.exec(select(RightsSettings)).first()
    return row is None or row.enabled


def set_irm_enabled(session: Session, enabled: bool) -> None:
    row = session.exec(select(RightsSettings)).first() or RightsSettings()
    row.enabled = enabled
    session.add(row)


def templates(session: Session) -> list[Template]:
    """The built-in templates, then the administrator's in the order added."""
    rows = session.exec(select(RightsTemplate).order_by(RightsTemplate.id)).all()
    return list(DEFAULT_TEMPLATES) + [Template.from_dict(row.data) for row in rows]


def template_map(session: Session) -> dict[str, Template]:
    return {t.template_id.lower(): t for t in templates(session)}


def add_template(session: Session, template: Template) -> None:
    key = template.template_id.lower()
    if key in template_map(session):
        raise ValueError(f"template {template.template_id} exists")
    session.add(RightsTemplate(template_id=key, data={**template.to_dict(), "template_id": key}))


def remove_template(session: Session, template_id: str) -> bool:
    row = session.exec(select(RightsTemplate).where(RightsTemplate.template_id == template_id.lower())).first()
    if row is None:
        return False
    session.delete(row)
    return True
