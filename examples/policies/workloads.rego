# Example organisation policy over the rendered objects.
package pctl.workloads

# Every container has a memory limit (the built-in blueprints always set one; an organisation's
# own blueprints might not).
deny contains msg if {
	some o in input.objects
	o.kind in {"Deployment", "Rollout", "CronJob"}
	some c in containers(o)
	not c.resources.limits.memory
	msg := sprintf("%s: container %s has no memory limit", [o.path, c.name])
}

containers(o) := o.object.spec.template.spec.containers if o.kind != "CronJob"

containers(o) := o.object.spec.jobTemplate.spec.template.spec.containers if o.kind == "CronJob"

# Experimental services stay out of protected environments.
warn contains msg if {
	input.service.lifecycle == "experimental"
	some d in input.deployments
	d.environment.protected
	msg := sprintf("experimental service deployed to protected environment %s", [d.environment.name])
}
