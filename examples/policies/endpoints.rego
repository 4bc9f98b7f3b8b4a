# Example organisation policy (Rego v1, as in OPA 1.x): pctl evaluates every `deny` and `warn`
# set of every package for each service. `input` holds:
#   service      the resolved service (name, kind, owner, endpoints, resources, deploy, slo, ...)
#   team         the owning team (name, contact, cost_center, budget_usd_month)
#   deployments  one per environment (environment, replicas, autoscale, compute, resources, ...)
#   objects      every rendered YAML object: {path, kind, name, object}
#   org          the organisation (name, environments, registries, ...)
package pctl.endpoints

# A public endpoint is a promise: it must say how available it is.
deny contains msg if {
	some e in input.service.endpoints
	e.public
	e.sla == null
	msg := sprintf("public endpoint %s has no `sla`", [e.path])
}

# Public services should declare an availability SLO, so alerts can page on its burn rate.
warn contains msg if {
	some e in input.service.endpoints
	e.public
	not input.service.slo.availability
	msg := sprintf("public endpoint %s but no `slo.availability`", [e.path])
}
