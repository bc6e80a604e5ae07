"""The Admin service's rights policy templates (MS-ASRM emulation, storage/rights.py): what an
administrator imports from the RMS server on Exchange, and IRM on or off.  A mixin of `Admin`
(server/admin/service.py), which provides `db` and `_need`."""
from __future__ import annotations

from easlab.eas.rights import DEFAULT_TEMPLATES, RIGHTS, Template, check_template
from easlab.storage import rights
from easlab.storage.access import AccessError

from .roles import Actor, NotFound


def _view(template: Template, builtin: bool) -> dict:
    return {**template.to_dict(), "builtin": builtin}


class RightsOps:
    def rights_show(self, actor: Actor) -> dict:
        self._need(actor, "view")
        with self.db.session() as s:
            return {"enabled": rights.irm_enabled(s),
                    "templates": [_view(t, i < len(DEFAULT_TEMPLATES)) for i, t in enumerate(rights.templates(s))]}

    def rights_add(self, actor: Actor, template_id: str, name: str, description: str = "", *,
                   allow: list[str] = (), expiry_days: int | None = None) -> dict:
        """A template granting recipients the rights in `allow` (edit, export, extract, forward,
        print, programmatic, reply, reply_all)."""
        self._need(actor, "configure")
        unknown = [r for r in allow if r not in RIGHTS]
        if unknown:
            raise AccessError(f"unknown rights {', '.join(unknown)}: use {', '.join(RIGHTS)}")
        template = Template(template_id.strip(), name.strip(), description.strip() or name.strip(),
                            expiry_days=expiry_days, **{r: True for r in allow})
        try:
            check_template(template)
            with self.db.session() as s:
                rights.add_template(s, template)
        except ValueError as exc:
            raise AccessError(str(exc)) from None
        return self.rights_show(actor)

    def rights_remove(self, actor: Actor, template_id: str) -> dict:
        self._need(actor, "configure")
        with self.db.session() as s:
            if not rights.remove_template(s, template_id):
                raise NotFound(f"no template {template_id} (the built-in ones stay)")
        return self.rights_show(actor)

    def rights_enable(self, actor: Actor, enabled: bool) -> dict:
        self._need(actor, "configure")
        with self.db.session() as s:
            rights.set_irm_enabled(s, enabled)
        return self.rights_show(actor)
