"""AWS changes: routes to the peering, the peering's acceptance, and cross-VPC security-group rules.

Each is one EC2 API call, planned on the resource as read (a route table, a peering, a security group) and
checked against a fresh read of that one resource before it is sent. Reads and writes go through clients made
by `sources.aws.make_session` (via the ChangeContext), so read-only mode's botocore hook covers them.

Actions: create_route, replace_route, delete_route, accept_peering, add_sg_rule, revoke_sg_rule.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from goodword_tui.analysis.policy import parse_entry
from goodword_tui.analysis.reach import describe_rule, normalize_protocol, route_network
from goodword_tui.changes.base import (
    ApiRequest,
    Change,
    Effect,
    Intent,
    Request,
    System,
    TargetView,
    Verification,
    register,
    register_ops,
)
from goodword_tui.changes.inputs import (
    InputError,
    validate_aws_id,
    validate_cidr,
    validate_ports,
    validate_protocol,
    validate_sg_description,
)
from goodword_tui.config import Settings
from goodword_tui.model import (
    AwsState,
    Peering,
    Route,
    RouteTable,
    RouteTargetKind,
    SecurityGroup,
    SecurityGroupRule,
    to_jsonable,
)

if TYPE_CHECKING:
    from goodword_tui.changes.apply import ChangeContext

ACCEPTED_PEERING_STATES = ("active", "provisioning")  # AWS passes through provisioning on its way to active


# --------------------------------------------------------------------------------------------------------------
# Views


def route_table_view(table: RouteTable | None, table_id: str) -> TargetView:
    if table is None:
        return TargetView("route_table", table_id, ("(the route table was not found)",), ("missing",))
    routes = sorted(table.routes, key=lambda r: (r.destination, r.target_id))
    lines = tuple(f"{r.destination} -> {r.target_id}" + (" (blackhole)" if r.is_blackhole else "") for r in routes)
    key = tuple((r.destination, r.target_id, r.state) for r in routes)
    return TargetView("route_table", table.id, lines, key, to_jsonable(table))


def peering_view(peering: Peering | None, peering_id: str) -> TargetView:
    if peering is None:
        return TargetView("peering", peering_id, ("(the peering was not found)",), ("missing",))
    lines = (
        f"status: {peering.status}",
        f"requester: {peering.requester_vpc_id} {peering.requester_cidr}".rstrip(),
        f"accepter: {peering.accepter_vpc_id} {peering.accepter_cidr}".rstrip(),
    )
    key = (peering.status, peering.requester_vpc_id, peering.accepter_vpc_id)
    return TargetView("peering", peering.id, lines, key, to_jsonable(peering))


def _rule_key(rule: SecurityGroupRule) -> tuple[Any, ...]:
    protocol = normalize_protocol(rule.protocol)
    low, high = _ports_of(protocol, rule.from_port, rule.to_port)
    return (rule.direction, protocol, low, high, rule.peer)


def security_group_view(group: SecurityGroup | None, group_id: str) -> TargetView:
    if group is None:
        return TargetView("security_group", group_id, ("(the security group was not found)",), ("missing",))
    rules = sorted(group.rules, key=lambda r: tuple(str(x) for x in _rule_key(r)))
    lines = tuple(describe_rule(r) + (f"  ({r.description})" if r.description else "") for r in rules)
    key = tuple(sorted(tuple(str(x) for x in _rule_key(r)) for r in rules))
    return TargetView("security_group", group.id, lines, key, to_jsonable(group))


# --------------------------------------------------------------------------------------------------------------
# Helpers


def _param(params: Mapping[str, Any], key: str) -> Any:
    if params.get(key) is None:
        raise InputError(key, "is missing")
    return params[key]


def _table(state: AwsState, table_id: str) -> RouteTable:
    table = next((t for t in state.route_tables if t.id == table_id), None)
    if table is None:
        raise InputError("route_table_id", f"route table {table_id} was not found", "refresh the network data")
    return table


def _route_for(table: RouteTable, destination: str) -> Route | None:
    wanted = parse_entry(destination)
    return next((r for r in table.routes if route_network(r) == wanted), None)


def _route_params(params: Mapping[str, Any], *, peering: bool) -> dict[str, str]:
    out = {
        "route_table_id": validate_aws_id(str(_param(params, "route_table_id")), "rtb", "route_table_id"),
        "destination": validate_cidr(str(_param(params, "destination")), "destination"),
    }
    if peering:
        out["peering_id"] = validate_aws_id(str(_param(params, "peering_id")), "pcx", "peering_id")
    return out


def _route_api(table_id: str, destination: str, peering_id: str = "") -> dict[str, str]:
    api = {"RouteTableId": table_id, "DestinationCidrBlock": destination}
    if peering_id:
        api["VpcPeeringConnectionId"] = peering_id
    return api


def _route_effect(table_id: str, destination: str, target_id: str, present: bool) -> Effect:
    return Effect(
        "aws",
        "route",
        {"route_table_id": table_id, "destination": destination, "target_id": target_id, "present": present},
    )


def _route_change(
    kind: str,
    params: dict[str, str],
    state: AwsState,
    settings: Settings,
    table: RouteTable,
    after: RouteTable,
    *,
    description: str,
    request: ApiRequest,
    effect: Effect,
    dangerous: list[str],
    inverse: Intent | None,
    irreversible: str = "",
) -> Change:
    return Change(
        kind=kind,
        system=System.AWS,
        target=table.id,
        description=description,
        request=request,
        before=route_table_view(table, table.id),
        after=route_table_view(after, table.id),
        params=params,
        effect=effect,
        dangerous=bool(dangerous),
        danger_reasons=tuple(dangerous),
        inverse_intent=inverse,
        irreversible_reason=irreversible,
        state_before=AwsState(route_tables=(table,)),
        state_after=AwsState(route_tables=(after,)),
        settings=settings,
    )


def _named(table: RouteTable) -> str:
    return f"{table.id} ({table.name})" if table.name else table.id


# --------------------------------------------------------------------------------------------------------------
# Routes


@register("create_route", System.AWS, "Create a route from a route table to the peering")
def create_route(params: Mapping[str, Any], state: AwsState, settings: Settings) -> Change:
    checked = _route_params(params, peering=True)
    table = _table(state, checked["route_table_id"])
    dest, peering_id = checked["destination"], checked["peering_id"]
    existing = _route_for(table, dest)
    if existing is not None:
        raise InputError(
            "destination",
            f"{_named(table)} already routes {dest} to {existing.target_id}",
            "replace the route instead of creating one",
        )
    after = dataclasses.replace(table, routes=(*table.routes, Route(dest, RouteTargetKind.PEERING, peering_id)))
    return _route_change(
        "create_route",
        checked,
        state,
        settings,
        table,
        after,
        description=f"Create route {dest} -> {peering_id} in {_named(table)}",
        request=ApiRequest("ec2", "CreateRoute", _route_api(table.id, dest, peering_id)),
        effect=_route_effect(table.id, dest, peering_id, True),
        dangerous=[],
        inverse=Intent("delete_route", {"route_table_id": table.id, "destination": dest}),
    )


@register("replace_route", System.AWS, "Point an existing (e.g. blackhole) route at the peering")
def replace_route(params: Mapping[str, Any], state: AwsState, settings: Settings) -> Change:
    checked = _route_params(params, peering=True)
    table = _table(state, checked["route_table_id"])
    dest, peering_id = checked["destination"], checked["peering_id"]
    existing = _route_for(table, dest)
    if existing is None:
        raise InputError("destination", f"{_named(table)} has no route for {dest}", "create the route instead")
    if existing.target_kind is RouteTargetKind.LOCAL:
        raise InputError("destination", f"{dest} is the VPC's local route; it cannot be replaced")
    if existing.target_id == peering_id and not existing.is_blackhole:
        raise InputError("peering_id", f"{_named(table)} already routes {dest} to {peering_id}", "nothing to change")
    new_route = Route(dest, RouteTargetKind.PEERING, peering_id)
    after = dataclasses.replace(table, routes=tuple(new_route if r is existing else r for r in table.routes))
    dangerous: list[str] = []
    if not existing.is_blackhole:
        dangerous.append(f"redirects live traffic for {dest} from {existing.target_id} to {peering_id}")
    if existing.is_blackhole:
        inverse, irreversible = None, f"the old target {existing.target_id} is gone: there is nothing to go back to"
    elif existing.target_kind is RouteTargetKind.PEERING:
        inverse = Intent(
            "replace_route", {"route_table_id": table.id, "destination": dest, "peering_id": existing.target_id}
        )
        irreversible = ""
    else:
        inverse, irreversible = None, f"the old target {existing.target_id} is not a peering; restore it by hand"
    state_word = "blackhole " if existing.is_blackhole else ""
    return _route_change(
        "replace_route",
        checked,
        state,
        settings,
        table,
        after,
        description=f"Replace {state_word}route {dest} -> {existing.target_id} with {dest} -> {peering_id} "
        f"in {_named(table)}",
        request=ApiRequest("ec2", "ReplaceRoute", _route_api(table.id, dest, peering_id)),
        effect=_route_effect(table.id, dest, peering_id, True),
        dangerous=dangerous,
        inverse=inverse,
        irreversible=irreversible,
    )


@register("delete_route", System.AWS, "Delete a route from a route table")
def delete_route(params: Mapping[str, Any], state: AwsState, settings: Settings) -> Change:
    checked = _route_params(params, peering=False)
    table = _table(state, checked["route_table_id"])
    dest = checked["destination"]
    existing = _route_for(table, dest)
    if existing is None:
        raise InputError("destination", f"{_named(table)} has no route for {dest}", "nothing to delete")
    if existing.target_kind is RouteTargetKind.LOCAL:
        raise InputError("destination", f"{dest} is the VPC's local route; it cannot be deleted")
    after = dataclasses.replace(table, routes=tuple(r for r in table.routes if r is not existing))
    if existing.target_kind is RouteTargetKind.PEERING and not existing.is_blackhole:
        inverse: Intent | None = Intent(
            "create_route", {"route_table_id": table.id, "destination": dest, "peering_id": existing.target_id}
        )
        irreversible = ""
    else:
        inverse, irreversible = None, f"the route's target {existing.target_id} cannot be recreated from here"
    return _route_change(
        "delete_route",
        checked,
        state,
        settings,
        table,
        after,
        description=f"Delete route {dest} -> {existing.target_id} from {_named(table)}",
        request=ApiRequest("ec2", "DeleteRoute", _route_api(table.id, dest)),
        effect=_route_effect(table.id, dest, existing.target_id, False),
        dangerous=[] if existing.is_blackhole else [f"drops the traffic {_named(table)} sends to {dest}"],
        inverse=inverse,
        irreversible=irreversible,
    )


# --------------------------------------------------------------------------------------------------------------
# Peering


@register("accept_peering", System.AWS, "Accept a peering connection waiting for acceptance")
def accept_peering(params: Mapping[str, Any], state: AwsState, settings: Settings) -> Change:
    peering_id = validate_aws_id(str(_param(params, "peering_id")), "pcx", "peering_id")
    peering = next((p for p in state.peerings if p.id == peering_id), None)
    if peering is None:
        raise InputError("peering_id", f"peering {peering_id} was not found", "refresh the network data")
    if peering.status != "pending-acceptance":
        raise InputError(
            "peering_id", f"peering {peering_id} is {peering.status}; only a pending-acceptance one can be accepted"
        )
    after = dataclasses.replace(peering, status="active", status_message="")
    return Change(
        kind="accept_peering",
        system=System.AWS,
        target=peering_id,
        description=f"Accept peering connection {peering_id} ({peering.requester_vpc_id} <-> "
        f"{peering.accepter_vpc_id})",
        request=ApiRequest("ec2", "AcceptVpcPeeringConnection", {"VpcPeeringConnectionId": peering_id}),
        before=peering_view(peering, peering_id),
        after=peering_view(after, peering_id),
        params={"peering_id": peering_id},
        effect=Effect("aws", "peering_status", {"peering_id": peering_id, "statuses": list(ACCEPTED_PEERING_STATES)}),
        irreversible_reason="an accepted peering cannot go back to pending; deleting it would cut the link, not undo",
        state_before=AwsState(peerings=(peering,)),
        state_after=AwsState(peerings=(after,)),
        settings=settings,
    )


# --------------------------------------------------------------------------------------------------------------
# Security-group rules


def _ports_of(protocol: str, low: int | None, high: int | None) -> tuple[int | None, int | None]:
    """Ports in one canonical form: none for -1, -1/-1 for all ICMP, 0-65535 for all tcp/udp."""
    if protocol == "-1":
        return None, None
    if protocol == "icmp":
        return (-1 if low is None else low), (-1 if high is None else high)
    return (0 if low is None or low == -1 else low), (65535 if high is None or high == -1 else high)


def _sg_params(params: Mapping[str, Any]) -> dict[str, Any]:
    direction = str(params.get("direction") or "ingress")
    if direction not in ("ingress", "egress"):
        raise InputError("direction", f"{direction!r} is not ingress or egress", "use ingress or egress")
    protocol = validate_protocol(str(_param(params, "protocol")))
    low, high = validate_ports(protocol, params.get("from_port"), params.get("to_port"))
    return {
        "group_id": validate_aws_id(str(_param(params, "group_id")), "sg", "group_id"),
        "direction": direction,
        "protocol": protocol,
        "from_port": low,
        "to_port": high,
        "cidr": validate_cidr(str(_param(params, "cidr"))),
        "description": validate_sg_description(str(params.get("description") or "")),
    }


def _sg_rule(checked: Mapping[str, Any]) -> SecurityGroupRule:
    return SecurityGroupRule(
        direction=checked["direction"],
        protocol=checked["protocol"],
        from_port=checked["from_port"],
        to_port=checked["to_port"],
        cidr=checked["cidr"],
        description=checked.get("description", ""),
    )


def _matching_rule(group: SecurityGroup, checked: Mapping[str, Any]) -> SecurityGroupRule | None:
    wanted = _rule_key(_sg_rule(checked))
    network = parse_entry(checked["cidr"])
    for rule in group.rules:
        key = _rule_key(rule)
        if key[:4] == wanted[:4] and rule.cidr and parse_entry(rule.cidr) == network:
            return rule
    return None


def _sg_api(checked: Mapping[str, Any], *, with_description: bool) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": checked["protocol"]}
    if checked["protocol"] != "-1":
        permission["FromPort"] = checked["from_port"]
        permission["ToPort"] = checked["to_port"]
    ip_range: dict[str, str] = {"CidrIp": checked["cidr"]}
    if with_description and checked.get("description"):
        ip_range["Description"] = checked["description"]
    permission["IpRanges"] = [ip_range]
    return {"GroupId": checked["group_id"], "IpPermissions": [permission]}


def _group(state: AwsState, group_id: str) -> SecurityGroup:
    group = next((g for g in state.security_groups if g.id == group_id), None)
    if group is None:
        raise InputError("group_id", f"security group {group_id} was not found", "refresh the network data")
    return group


def _sg_effect(checked: Mapping[str, Any], present: bool) -> Effect:
    keys = ("group_id", "direction", "protocol", "from_port", "to_port", "cidr")
    return Effect("aws", "sg_rule", {**{k: checked[k] for k in keys}, "present": present})


def _sg_change(
    kind: str,
    checked: dict[str, Any],
    group: SecurityGroup,
    after: SecurityGroup,
    settings: Settings,
    *,
    description: str,
    operation: str,
    present: bool,
    inverse: Intent,
    dangerous: tuple[str, ...] = (),
) -> Change:
    return Change(
        kind=kind,
        system=System.AWS,
        target=group.id,
        description=description,
        request=ApiRequest("ec2", operation, _sg_api(checked, with_description=present)),
        before=security_group_view(group, group.id),
        after=security_group_view(after, group.id),
        params=checked,
        effect=_sg_effect(checked, present),
        dangerous=bool(dangerous),
        danger_reasons=dangerous,
        inverse_intent=inverse,
        state_before=AwsState(security_groups=(group,)),
        state_after=AwsState(security_groups=(after,)),
        settings=settings,
    )


@register("add_sg_rule", System.AWS, "Add a cross-VPC rule to a security group")
def add_sg_rule(params: Mapping[str, Any], state: AwsState, settings: Settings) -> Change:
    checked = _sg_params(params)
    group = _group(state, checked["group_id"])
    rule = _sg_rule(checked)
    if _matching_rule(group, checked) is not None:
        raise InputError("rule", f"{group.id} already has {describe_rule(rule)}", "nothing to add")
    after = dataclasses.replace(group, rules=(*group.rules, rule))
    operation = "AuthorizeSecurityGroupIngress" if checked["direction"] == "ingress" else "AuthorizeSecurityGroupEgress"
    return _sg_change(
        "add_sg_rule",
        checked,
        group,
        after,
        settings,
        description=f"Add {describe_rule(rule)} to {group.id} ({group.name})",
        operation=operation,
        present=True,
        inverse=Intent("revoke_sg_rule", checked),
    )


@register("revoke_sg_rule", System.AWS, "Revoke a security-group rule")
def revoke_sg_rule(params: Mapping[str, Any], state: AwsState, settings: Settings) -> Change:
    checked = _sg_params(params)
    group = _group(state, checked["group_id"])
    existing = _matching_rule(group, checked)
    if existing is None:
        raise InputError("rule", f"{group.id} has no rule {describe_rule(_sg_rule(checked))}", "nothing to revoke")
    checked = {**checked, "description": existing.description or checked["description"]}
    after = dataclasses.replace(group, rules=tuple(r for r in group.rules if r is not existing))
    operation = "RevokeSecurityGroupIngress" if checked["direction"] == "ingress" else "RevokeSecurityGroupEgress"
    return _sg_change(
        "revoke_sg_rule",
        checked,
        group,
        after,
        settings,
        description=f"Revoke {describe_rule(existing)} from {group.id} ({group.name})",
        operation=operation,
        present=False,
        inverse=Intent("add_sg_rule", checked),
        dangerous=(f"stops {describe_rule(existing)} for {group.id} ({group.name})",),
    )


# --------------------------------------------------------------------------------------------------------------
# Reading, sending, checking

# Which resource each action touches: (kind, the parameter holding its id).
TARGETS: dict[str, tuple[str, str]] = {
    "create_route": ("route_table", "route_table_id"),
    "replace_route": ("route_table", "route_table_id"),
    "delete_route": ("route_table", "route_table_id"),
    "accept_peering": ("peering", "peering_id"),
    "add_sg_rule": ("security_group", "group_id"),
    "revoke_sg_rule": ("security_group", "group_id"),
}
_NOT_FOUND_SUFFIX = ".NotFound"


def _not_found(exc: BaseException) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code.endswith(_NOT_FOUND_SUFFIX)


def read_target(ctx: ChangeContext, kind: str, resource_id: str) -> AwsState:
    """One resource, freshly described, as a partial AwsState (empty when it does not exist)."""
    from goodword_tui.sources.aws import to_peering, to_route_table, to_security_group

    ec2 = ctx.client("ec2")
    try:
        if kind == "route_table":
            found = ec2.describe_route_tables(RouteTableIds=[resource_id])["RouteTables"]
            return AwsState(route_tables=tuple(to_route_table(t) for t in found))
        if kind == "peering":
            found = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[resource_id])
            return AwsState(peerings=tuple(to_peering(p) for p in found["VpcPeeringConnections"]))
        if kind == "security_group":
            found = ec2.describe_security_groups(GroupIds=[resource_id])["SecurityGroups"]
            return AwsState(security_groups=tuple(to_security_group(g) for g in found))
    except Exception as exc:
        if _not_found(exc):
            return AwsState()
        raise
    raise ValueError(f"unknown AWS target kind {kind!r}")


def view_of(state: AwsState, kind: str, resource_id: str) -> TargetView:
    if kind == "route_table":
        return route_table_view(next((t for t in state.route_tables if t.id == resource_id), None), resource_id)
    if kind == "peering":
        return peering_view(next((p for p in state.peerings if p.id == resource_id), None), resource_id)
    return security_group_view(next((g for g in state.security_groups if g.id == resource_id), None), resource_id)


class AwsOps:
    """How AWS changes read their one resource, send their call and check their effect."""

    def read(self, ctx: ChangeContext, change: Change) -> tuple[AwsState, TargetView]:
        kind, resource_id = change.before.kind, change.before.id
        state = read_target(ctx, kind, resource_id)
        return state, view_of(state, kind, resource_id)

    def read_for(self, ctx: ChangeContext, intent: Intent) -> AwsState:
        kind, key = TARGETS[intent.action]
        return read_target(ctx, kind, str(intent.params.get(key, "")))

    def send(self, ctx: ChangeContext, request: Request) -> None:
        import botocore

        if not isinstance(request, ApiRequest):
            raise TypeError("an AWS change sends an API call")
        method = getattr(ctx.write_client(request.service), botocore.xform_name(request.operation))
        method(**copy.deepcopy(dict(request.params)))

    def check_effect(self, ctx: ChangeContext, effect: Effect) -> Verification:
        """Re-read the one resource the effect is about and judge it."""
        kind, key = _effect_target(effect)
        return self.effect_in(ctx, effect, read_target(ctx, kind, str(effect.params[key])))

    def effect_in(self, ctx: ChangeContext, effect: Effect, state: AwsState) -> Verification:
        """The effect judged on a state already read (before sending: is it already done?)."""
        p = effect.params
        kind, key = _effect_target(effect)
        resource_id = str(p[key])
        view = view_of(state, kind, resource_id)
        if effect.check == "route":
            dest = str(p["destination"])
            table = next((t for t in state.route_tables if t.id == resource_id), None)
            if table is None:
                return Verification(False, f"route table {resource_id} was not found", view)
            route = _route_for(table, dest)
            if p.get("present"):
                ok = route is not None and route.target_id == p["target_id"] and not route.is_blackhole
                seen = "no route" if route is None else f"{route.destination} -> {route.target_id} ({route.state})"
                return Verification(ok, f"{resource_id}: {seen} for {dest}", view)
            ok = route is None
            return Verification(
                ok, f"{resource_id}: " + ("no route" if ok else "a route is still there") + f" for {dest}", view
            )
        if effect.check == "peering_status":
            peering = next((x for x in state.peerings if x.id == resource_id), None)
            status = peering.status if peering is not None else "not found"
            ok = status in tuple(p.get("statuses") or ())
            return Verification(ok, f"peering {resource_id} is {status}", view)
        group = next((g for g in state.security_groups if g.id == resource_id), None)
        if group is None:
            return Verification(False, f"security group {resource_id} was not found", view)
        found = _matching_rule(group, {**p, "description": ""}) is not None
        ok = found == bool(p.get("present"))
        text = describe_rule(_sg_rule({**p, "description": ""}))
        return Verification(ok, f"{resource_id}: {text} is {'present' if found else 'absent'}", view)


# Which resource each effect check reads: (target kind, the parameter holding its id).
EFFECT_TARGETS: dict[str, tuple[str, str]] = {
    "route": ("route_table", "route_table_id"),
    "peering_status": ("peering", "peering_id"),
    "sg_rule": ("security_group", "group_id"),
}


def _effect_target(effect: Effect) -> tuple[str, str]:
    found = EFFECT_TARGETS.get(effect.check)
    if found is None:
        raise ValueError(f"unknown AWS effect {effect.check!r}")
    return found


register_ops(System.AWS, AwsOps())
