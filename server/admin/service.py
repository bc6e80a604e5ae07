"""Administration: the one service under the CLI, the web UI, the JSON API and the pytest plugin.

Every administrative write (organisation, rules, devices, users, mailbox policies, and the test
tools' faults and traces) and every administrative read goes through `Admin`; the writes on users
are in server/admin/users.py and those of the test tools in server/admin/testing_ops.py, mixed
in.  Each operation checks the caller's role (as Exchange's RBAC splits them,
server/admin/roles.py), checks its input (server/admin/checks.py), runs in one transaction, and
then tells whoever holds requests for the affected users through `notify` (the
in-process hub, or a running server through the control socket) so devices react at once.
"""
from __future__ import annotations

from sqlmodel import select

from easlab.eas.machines import wipe
from easlab.eas.machines.access import ACCESS_LEVELS, evaluate
from easlab.eas.policy import PolicySettings
from easlab.eas.versions import SUPPORTED
from easlab.storage import Database
from easlab.storage.access import (
    AccessError, add_rule, add_to_list, admin_recipients, clear_autoblock, find_rule, history, org_settings, remove_from_list, valid_address,
)
from easlab.storage.devices import get_device, remove_device
from easlab.storage.models import AccessRule, Device, OutboundMail, User
from easlab.storage.policies import PolicyError, add_policy, assign_policy, get_policy, list_policies, update_policy, users_of
from easlab.storage.types import iso
from easlab.storage.users import get_user

from .checks import check_settings, policy_name
from .documents import DocumentOps
from .rights import RightsOps
from .roles import ROLES, Actor, NotFound
from .testing_ops import FaultsAndTraces
from .throttling import ThrottlingOps
from .users import UserOps
from .views import device_view, outbound_view, policy_document, policy_view, rule_view


def _rule(session, name: str):
    from easlab.storage.access import RuleNotFound

    try:
        return find_rule(session, name)
    except RuleNotFound as exc:
        raise NotFound(str(exc)) from None


class Admin(UserOps, FaultsAndTraces, ThrottlingOps, DocumentOps, RightsOps):
    """The administration service; `notify(event)` is how the serving process hears of a change."""

    def __init__(self, db: Database, notify, domain: str = "easlab.test", clock=None):
        from ..clock import SystemClock

        self.db = db
        self.notify = notify  # callable(event dict): wakes held requests in the serving process
        self.domain = domain
        self.clock = clock or SystemClock()  # the serving app's clock (server/clock.py)

    @staticmethod
    def _need(actor: Actor, permission: str) -> None:
        actor.need(permission)

    def _user(self, session, name: str) -> User:
        user = get_user(session, name)
        if user is None:
            raise NotFound(f"no user {name}")
        return user

    def _device(self, session, user: User, device_id: str) -> Device:
        device = get_device(session, user, device_id)
        if device is None:
            raise NotFound(f"{user.name} has no device {device_id}")
        return device

    def _wake(self, user_ids: list[int] | None) -> None:
        # A held Ping ends ("hierarchy changed"), so the device's next request meets the change.
        self.notify({"event": "policy", "users": user_ids})

    # -- organisation ----------------------------------------------------------------------------
    def org_show(self, actor: Actor) -> dict:
        self._need(actor, "view")
        with self.db.session() as s:
            org = org_settings(s)
            valid, invalid = admin_recipients(org)
            warnings = []
            if org.default_access == "Quarantine" and not valid:
                warnings.append("no valid admin mail recipient: quarantined devices notify no one (Exchange event 1110)")
            if invalid:
                warnings.append(f"ignored admin mail recipients: {', '.join(invalid)}")
            return {
                "default_access": org.default_access, "admin_mail_recipients": list(org.admin_mail_recipients),
                "valid_admin_mail_recipients": valid, "user_mail_insert": org.user_mail_insert,
                "max_devices": org.max_devices, "blocked_delay": org.blocked_delay,
                "discovery_minutes": org.discovery_minutes, "warnings": warnings,
            }

    def org_set(self, actor: Actor, *, default_access=None, admin_mail=None, user_mail_insert=None, max_devices=None,
                blocked_delay=None, discovery_minutes=None) -> dict:
        self._need(actor, "configure")
        with self.db.session() as s:
            org = org_settings(s)
            if default_access is not None:
                level = next((a for a in ACCESS_LEVELS if a.lower() == default_access.lower()), None)
                if level is None:
                    raise AccessError(f"default access {default_access!r}: use allow, block or quarantine")
                org.default_access = level
            if admin_mail is not None:
                # Exchange's AdminMailRecipients are SmtpAddress values: a typo is refused, not stored
                # to be skipped at every notification.
                listed = [a.strip() for a in admin_mail if a.strip()]
                invalid = [a for a in listed if not valid_address(a)]
                if invalid:
                    raise AccessError(f"admin mail recipients: {', '.join(repr(a) for a in invalid)} "
                                      f"{'is not a mail address' if len(invalid) == 1 else 'are not mail addresses'}")
                org.admin_mail_recipients = listed
            if user_mail_insert is not None:
                if len(user_mail_insert) > 256:
                    raise AccessError("the user mail insert is at most 256 characters")
                org.user_mail_insert = user_mail_insert
            for name, value, low, high in (("max_devices", max_devices, 1, 10000), ("blocked_delay", blocked_delay, 0, 59),
                                           ("discovery_minutes", discovery_minutes, 0, 1440)):
                if value is not None:
                    if not low <= int(value) <= high:
                        raise AccessError(f"{name} must be {low}-{high}")
                    setattr(org, name, int(value))
            s.add(org)
        self._wake(None)
        return self.org_show(actor)

    # -- rules ----------------------------------------------------------------------------------
    def rule_list(self, actor: Actor) -> list[dict]:
        self._need(actor, "view")
        with self.db.session() as s:
            return [rule_view(r) for r in s.exec(select(AccessRule).order_by(AccessRule.id))]

    def rule_add(self, actor: Actor, characteristic: str, query: str, access_level: str) -> dict:
        self._need(actor, "configure")
        with self.db.session() as s:
            row = add_rule(s, characteristic, query, access_level)
            name = row.name
        self._wake(None)
        return next(r for r in self.rule_list(actor) if r["name"] == name)

    def rule_set(self, actor: Actor, name: str, access_level: str) -> dict:
        """Exchange's Set-ActiveSyncDeviceAccessRule changes only the access level."""
        self._need(actor, "configure")
        with self.db.session() as s:
            row = _rule(s, name)
            level = next((a for a in ACCESS_LEVELS if a.lower() == access_level.lower()), None)
            if level is None:
                raise AccessError(f"access level {access_level!r}: use Allow, Block or Quarantine")
            row.access_level = level
            s.add(row)
        self._wake(None)
        return next(r for r in self.rule_list(actor) if r["name"] == name)

    def rule_remove(self, actor: Actor, name: str) -> None:
        self._need(actor, "configure")
        with self.db.session() as s:
            s.delete(_rule(s, name))
        self._wake(None)

    # -- devices --------------------------------------------------------------------------------
    def device_list(self, actor: Actor, user: str | None = None, state: str | None = None) -> list[dict]:
        self._need(actor, "view")
        states = {"quarantined": "Quarantined", "allowed": "Allowed", "blocked": "Blocked", "discovery": "DeviceDiscovery"}
        with self.db.session() as s:
            query = select(Device, User).where(Device.user_id == User.id)
            if user:
                query = query.where(User.name == user.lower())
            if state:
                if state.lower() not in states:
                    raise AccessError(f"state {state!r}: use {', '.join(states)}")
                query = query.where(Device.access_state == states[state.lower()])
            return [device_view(d, u) for d, u in s.exec(query.order_by(User.name, Device.device_id))]

    def device_get(self, actor: Actor, user: str, device_id: str) -> dict:
        self._need(actor, "view")
        with self.db.session() as s:
            u = self._user(s, user)
            d = self._device(s, u, device_id)
            return device_view(d, u, history(s, d))

    def _list_change(self, actor, permission, user, device_id, add=None, remove=None) -> dict:
        self._need(actor, permission)
        with self.db.session() as s:
            u = self._user(s, user)
            if add:
                add_to_list(u, add, device_id)
            if remove:
                for which in remove:
                    remove_from_list(u, which, device_id)
            s.add(u)
            uid = u.id
        self._wake([uid])
        return {"user": user, "allowed": self.lists(actor, user)["allowed"], "blocked": self.lists(actor, user)["blocked"]}

    def lists(self, actor: Actor, user: str) -> dict:
        self._need(actor, "view")
        with self.db.session() as s:
            u = self._user(s, user)
            return {"allowed": list(u.allowed_device_ids), "blocked": list(u.blocked_device_ids)}

    def device_allow(self, actor: Actor, user: str, device_id: str) -> dict:
        """Add to the user's allowed list (Exchange's Allow button; also for a device not yet seen);
        an auto-block (eas/autoblock.py) lifts with it."""
        self._need(actor, "approve")
        with self.db.session() as s:
            d = get_device(s, self._user(s, user), device_id)
            if d is not None and clear_autoblock(d):
                s.add(d)
        return self._list_change(actor, "approve", user, device_id, add="allowed")

    def device_block(self, actor: Actor, user: str, device_id: str) -> dict:
        return self._list_change(actor, "approve", user, device_id, add="blocked")

    def device_unblock(self, actor: Actor, user: str, device_id: str) -> dict:
        return self._list_change(actor, "approve", user, device_id, remove=["blocked"])

    def device_revoke(self, actor: Actor, user: str, device_id: str | None = None) -> dict:
        """Take one device (or all, for None) off the allowed list: the seed's
        `Set-CASMailbox -ActiveSyncAllowedDeviceIDs $null`."""
        self._need(actor, "approve")
        with self.db.session() as s:
            u = self._user(s, user)
            removed = remove_from_list(u, "allowed", device_id)
            s.add(u)
            uid = u.id
        self._wake([uid])
        return {"user": user, "revoked": removed}

    def device_remove(self, actor: Actor, user: str, device_id: str) -> None:
        """Delete the partnership; the next request is a new device (Remove-MobileDevice)."""
        self._need(actor, "operate")
        with self.db.session() as s:
            u = self._user(s, user)
            remove_device(s, self._device(s, u, device_id))
            uid = u.id
        self._wake([uid])

    def device_wipe(self, actor: Actor, user: str, device_id: str, account_only: bool = False, cancel: bool = False,
                    notification_emails: list[str] | None = None) -> dict:
        """Clear-MobileDevice: a wipe at the device's next request, or -Cancel; the addresses of
        -NotificationEmailAddresses get the confirmation when the device acknowledges it."""
        self._need(actor, "operate")
        notify = [a.strip() for a in notification_emails or () if a.strip()]
        bad = [a for a in notify if not valid_address(a)]
        if bad:
            raise AccessError(f"not an e-mail address: {', '.join(bad)}")
        if cancel and notify:
            raise AccessError("notification addresses go with a wipe, not with its cancellation")
        with self.db.session() as s:
            u = self._user(s, user)
            d = self._device(s, u, device_id)
            if cancel:
                try:
                    d.wipe_state = wipe.next_state(d.wipe_state, wipe.Input.CANCEL)
                except wipe.Refused:
                    why = {wipe.State.NONE: "no wipe is pending", wipe.State.SENT: "the wipe was already sent to the device"}
                    raise AccessError(f"cannot cancel: {why.get(d.wipe_state, 'the wipe is over')} "
                                      f"({wipe.status(d.wipe_state, d.wipe_account_only)})") from None
                d.wipe_requested_at, d.wipe_account_only, d.wipe_notify = None, False, []
            else:
                if account_only and not wipe.account_only_supported(d.protocol_version):
                    raise AccessError(f"an account-only wipe needs an EAS {wipe.ACCOUNT_ONLY_WIPE_SINCE} device; "
                                      f"{device_id} speaks {d.protocol_version or 'nothing yet'}")
                d.wipe_state = wipe.next_state(d.wipe_state, wipe.Input.REQUEST)
                d.wipe_requested_at, d.wipe_account_only, d.wipe_notify = self.clock.now(), account_only, notify
                d.wipe_sent_at = d.wipe_ack_at = None
            s.add(d)
            uid = u.id
            view = device_view(d, u)
        self._wake([uid])
        return view

    def device_explain(self, actor: Actor, user: str, device_id: str) -> dict:
        """The decision the device's next request would get, step by step: the gate's own rules over
        the same facts (server/store/access.py), at the server's time."""
        from ..store.access import access_facts, next_request

        self._need(actor, "view")
        with self.db.session() as s:
            u = self._user(s, user)
            d = get_device(s, u, device_id)
            line, command = next_request(u, d, device_id)
            decision = evaluate(access_facts(s, u, d, line, command, self.clock.now()))
            return {"user": u.name, "device_id": device_id, "known": d is not None, "state": decision.state,
                    "reason": decision.reason, "rule": decision.rule, "step": decision.step, "path": decision.path,
                    "stored_state": d.access_state if d else None,
                    "autoblock_until": iso(decision.autoblock_until)}

    # -- users (adding one, its password and directory fields: users.py) ------------------------
    def user_set(self, actor: Actor, name: str, *, activesync: bool | None = None, role: str | None = None,
                 display_name: str | None = None) -> dict:
        self._need(actor, "configure")
        if role is not None and role not in ("", "none", *ROLES):
            raise AccessError(f"role {role!r}: use {', '.join(ROLES)} or none")
        with self.db.session() as s:
            u = self._user(s, name)
            if activesync is not None:
                u.activesync_enabled = activesync
            if role is not None:
                u.role = "" if role == "none" else role
            if display_name is not None:
                u.display_name = display_name
            s.add(u)
            uid = u.id
            out = {"name": u.name, "activesync": u.activesync_enabled, "role": u.role, "display_name": u.display_name}
        self._wake([uid])
        return out

    # -- mailbox policies -----------------------------------------------------------------------
    def policy_list(self, actor: Actor) -> list[dict]:
        self._need(actor, "view")
        with self.db.session() as s:
            return [policy_view(p, len(users_of(s, p))) for p in list_policies(s)]

    def policy_show(self, actor: Actor, name: str, version: str = "14.1") -> dict:
        """The policy's row, its settings, and the PolicyKey and document a device of `version` gets."""
        self._need(actor, "view")
        if version not in SUPPORTED:
            raise PolicyError(f"version {version!r}: use one of {', '.join(SUPPORTED)}")
        with self.db.session() as s:
            row = get_policy(s, name)
            if row is None:
                raise NotFound(f"no policy {name!r}")
            out = policy_view(row, len(users_of(s, row)))
            settings = PolicySettings.from_dict(row.settings)
        return {**out, **policy_document(settings, version)}

    def policy_add(self, actor: Actor, name, changes: dict, default: bool = False) -> dict:
        self._need(actor, "configure")
        name = policy_name(name)
        changes = check_settings(changes)
        with self.db.session() as s:
            row = add_policy(s, name, PolicySettings(**changes), default=bool(default))
            users = users_of(s, row)
        self._wake(users)
        return self.policy_show(actor, name)

    def policy_update(self, actor: Actor, name: str, changes: dict, default: bool = False) -> dict:
        """Set-MobileDeviceMailboxPolicy: the policy's devices provision again at their next request."""
        self._need(actor, "configure")
        changes = check_settings(changes)
        with self.db.session() as s:
            if get_policy(s, name) is None:
                raise NotFound(f"no policy {name!r}")
            row = update_policy(s, name, changes, default=bool(default))
            s.flush()
            users = users_of(s, row)
        self._wake(users)
        return self.policy_show(actor, name)

    def policy_assign(self, actor: Actor, user_name: str, name: str) -> dict:
        """Set-CASMailbox -ActiveSyncMailboxPolicy: the user's devices re-provision."""
        self._need(actor, "configure")
        with self.db.session() as s:
            user = self._user(s, user_name)
            if get_policy(s, name) is None:
                raise NotFound(f"no policy {name!r}")
            assign_policy(s, user, name)
            uid, uname = user.id, user.name
        self._wake([uid])
        return {"user": uname, "policy": name}

    def policy_remove(self, actor: Actor, name: str) -> None:
        """Remove-MobileDeviceMailboxPolicy, refused while a user has the policy (Exchange refuses
        to remove one still assigned to mailboxes) and for the default one, which users without an
        assignment have."""
        self._need(actor, "configure")
        with self.db.session() as s:
            row = get_policy(s, name)
            if row is None:
                raise NotFound(f"no policy {name!r}")
            if row.is_default:
                raise PolicyError(f"policy {row.name!r} is the default: make another the default first "
                                  f"(easlab policy set OTHER --default)")
            holders = sorted(s.exec(select(User.name).where(User.policy_id == row.id)))
            if holders:
                shown = ", ".join(holders[:5]) + (f" and {len(holders) - 5} more" if len(holders) > 5 else "")
                raise PolicyError(f"policy {row.name!r} is assigned to {shown}: assign them another first "
                                  f"(easlab policy assign USER OTHER)")
            s.delete(row)

    # -- the outbound queue ---------------------------------------------------------------------
    def outbound(self, actor: Actor, limit: int = 500) -> list[dict]:
        self._need(actor, "view")
        with self.db.session() as s:
            return [outbound_view(r) for r in s.exec(select(OutboundMail).order_by(OutboundMail.id.desc()).limit(limit))]
