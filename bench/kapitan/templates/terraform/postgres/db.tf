{% import 'templates/lib/meta.j2' as k %}
{% set p = inventory.parameters %}
{% set r = 'db' %}
{% set res = p.resources[r] %}
{% set id = p.name ~ '-' ~ p.env.name ~ '-' ~ r %}
{% set prot = p.env.protected %}
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

resource "aws_db_subnet_group" "{{ r }}" {
  name       = "{{ id }}"
  subnet_ids = data.aws_subnets.{{ r }}.ids
  tags       = local.{{ r }}_tags
}

resource "aws_security_group" "{{ r }}" {
  name        = "{{ id }}"
  description = "PostgreSQL {{ r }} of {{ p.name }}"
  vpc_id      = data.aws_vpc.{{ r }}.id
  tags        = local.{{ r }}_tags
}

resource "aws_vpc_security_group_ingress_rule" "{{ r }}" {
  security_group_id = aws_security_group.{{ r }}.id
  description       = "PostgreSQL from the VPC"
  cidr_ipv4         = data.aws_vpc.{{ r }}.cidr_block
  ip_protocol       = "tcp"
  from_port         = {{ p.resource_types.postgres.port }}
  to_port           = {{ p.resource_types.postgres.port }}
}

resource "random_password" "{{ r }}" {
  length  = 40
  special = false
}

resource "aws_db_instance" "{{ r }}" {
  identifier                 = "{{ id }}"
  engine                     = "postgres"
  instance_class             = "{{ p.sizes.postgres[res.size]['class'] }}"
  allocated_storage          = 20
  max_allocated_storage      = 200
  storage_type               = "gp3"
  storage_encrypted          = true
  db_name                    = "{{ p.name|replace('-', '_') }}"
  username                   = "app"
  password                   = random_password.{{ r }}.result
  db_subnet_group_name       = aws_db_subnet_group.{{ r }}.name
  vpc_security_group_ids     = [aws_security_group.{{ r }}.id]
  publicly_accessible        = false
  multi_az                   = {{ prot|lower }}
  backup_retention_period    = 7
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  deletion_protection        = {{ prot|lower }}
  skip_final_snapshot        = {{ (not prot)|lower }}
{% if prot %}
  final_snapshot_identifier  = "{{ id }}-final"
{% endif %}
  tags                       = local.{{ r }}_tags
}

resource "aws_secretsmanager_secret" "{{ r }}" {
  name                    = "pctl/{{ p.env.name }}/{{ p.name }}/{{ r }}"
  description             = "Connection details of PostgreSQL {{ r }} ({{ p.name }}, {{ p.env.name }})"
  recovery_window_in_days = {{ 30 if prot else 0 }}
  tags                    = local.{{ r }}_tags
}

resource "aws_secretsmanager_secret_version" "{{ r }}" {
  secret_id = aws_secretsmanager_secret.{{ r }}.id
  secret_string = jsonencode({
    username = aws_db_instance.{{ r }}.username
    password = random_password.{{ r }}.result
    host     = aws_db_instance.{{ r }}.address
    port     = tostring(aws_db_instance.{{ r }}.port)
    dbname   = aws_db_instance.{{ r }}.db_name
    url = format("postgresql://%s:%s@%s:%d/%s",
      aws_db_instance.{{ r }}.username, random_password.{{ r }}.result,
      aws_db_instance.{{ r }}.address, aws_db_instance.{{ r }}.port,
    aws_db_instance.{{ r }}.db_name)
  })
}

