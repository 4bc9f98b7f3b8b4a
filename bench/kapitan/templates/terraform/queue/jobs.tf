{% import 'templates/lib/meta.j2' as k %}
{% set p = inventory.parameters %}
{% set r = 'jobs' %}
{% set id = p.name ~ '-' ~ p.env.name ~ '-' ~ r %}
{% set prot = p.env.protected %}
{{ k.header(p) }}
locals {
  {{ r }}_tags = merge({{ p.tf_tags }}, { "resource" = "{{ r }}" })
}

resource "aws_sqs_queue" "{{ r }}_dlq" {
  name                      = "{{ id }}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = local.{{ r }}_tags
}

resource "aws_sqs_queue" "{{ r }}" {
  name                       = "{{ id }}"
  visibility_timeout_seconds = 60
  message_retention_seconds  = 345600
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.{{ r }}_dlq.arn
    maxReceiveCount     = 5
  })
  tags = local.{{ r }}_tags
}

resource "aws_sqs_queue_redrive_allow_policy" "{{ r }}_dlq" {
  queue_url = aws_sqs_queue.{{ r }}_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.{{ r }}.arn]
  })
}

resource "aws_secretsmanager_secret" "{{ r }}" {
  name                    = "pctl/{{ p.env.name }}/{{ p.name }}/{{ r }}"
  description             = "Details of queue {{ r }} ({{ p.name }}, {{ p.env.name }})"
  recovery_window_in_days = {{ 30 if prot else 0 }}
  tags                    = local.{{ r }}_tags
}

resource "aws_secretsmanager_secret_version" "{{ r }}" {
  secret_id = aws_secretsmanager_secret.{{ r }}.id
  secret_string = jsonencode({
    url     = aws_sqs_queue.{{ r }}.url
    arn     = aws_sqs_queue.{{ r }}.arn
    name    = aws_sqs_queue.{{ r }}.name
    dlq_url = aws_sqs_queue.{{ r }}_dlq.url
  })
}

