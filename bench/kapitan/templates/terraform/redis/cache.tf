{% import 'templates/lib/meta.j2' as k %}
{% set p = inventory.parameters %}
{% set r = 'cache' %}
{% set res = p.resources[r] %}
{% set id = p.name ~ '-' ~ p.env.name ~ '-' ~ r %}
{% set prot = p.env.protected %}
{% set port = p.resource_types.redis.port %}
{{ k.header(p) }}
locals {
  {{ r }}_tags = merge({{ p.tf_tags }}, { "resource" = "{{ r }}" })
}

data "aws_vpc" "{{ r }}" {
  tags = {
    "pctl.dev/environment" = "{{ p.env.name }}"
  }
}

data "aws_subnets" "{{ r }}" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.{{ r }}.id]
  }
  tags = {
    "pctl.dev/tier" = "private"
  }
}

resource "aws_elasticache_subnet_group" "{{ r }}" {
  name       = "{{ id }}"
  subnet_ids = data.aws_subnets.{{ r }}.ids
  tags       = local.{{ r }}_tags
}

resource "aws_security_group" "{{ r }}" {
  name        = "{{ id }}"
  description = "Redis {{ r }} of {{ p.name }}"
  vpc_id      = data.aws_vpc.{{ r }}.id
  tags        = local.{{ r }}_tags
}

resource "aws_vpc_security_group_ingress_rule" "{{ r }}" {
  security_group_id = aws_security_group.{{ r }}.id
  description       = "Redis from the VPC"
  cidr_ipv4         = data.aws_vpc.{{ r }}.cidr_block
  ip_protocol       = "tcp"
  from_port         = {{ port }}
  to_port           = {{ port }}
}

resource "aws_elasticache_parameter_group" "{{ r }}" {
  name   = "{{ id }}"
  family = "redis7"
  tags   = local.{{ r }}_tags
}

resource "random_password" "{{ r }}" {
  length  = 64
  special = false
}

resource "aws_elasticache_replication_group" "{{ r }}" {
  replication_group_id       = "{{ id }}"
  description                = "Redis {{ r }} of {{ p.name }} ({{ p.env.name }})"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = "{{ p.sizes.redis[res.size]['class'] }}"
  port                       = {{ port }}
  num_cache_clusters         = {{ 2 if prot else 1 }}
  automatic_failover_enabled = {{ prot|lower }}
  multi_az_enabled           = {{ prot|lower }}
  parameter_group_name       = aws_elasticache_parameter_group.{{ r }}.name
  subnet_group_name          = aws_elasticache_subnet_group.{{ r }}.name
  security_group_ids         = [aws_security_group.{{ r }}.id]
  at_rest_encryption_enabled = true
  transit_encryption_enabled = true
  auth_token                 = random_password.{{ r }}.result
  snapshot_retention_limit   = 0
  auto_minor_version_upgrade = true
  apply_immediately          = {{ (not prot)|lower }}
  tags                       = local.{{ r }}_tags
}

resource "aws_secretsmanager_secret" "{{ r }}" {
  name                    = "pctl/{{ p.env.name }}/{{ p.name }}/{{ r }}"
  description             = "Connection details of Redis {{ r }} ({{ p.name }}, {{ p.env.name }})"
  recovery_window_in_days = {{ 30 if prot else 0 }}
  tags                    = local.{{ r }}_tags
}

resource "aws_secretsmanager_secret_version" "{{ r }}" {
  secret_id = aws_secretsmanager_secret.{{ r }}.id
  secret_string = jsonencode({
    host     = aws_elasticache_replication_group.{{ r }}.primary_endpoint_address
    port     = "{{ port }}"
    password = random_password.{{ r }}.result
    url = format("rediss://:%s@%s:{{ port }}",
      random_password.{{ r }}.result,
    aws_elasticache_replication_group.{{ r }}.primary_endpoint_address)
  })
}

