{% import 'templates/lib/meta.j2' as k %}
{% set p = inventory.parameters %}
{{ k.header(p) }}
terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  backend "s3" {}
}

provider "aws" {
  region = {{ p.env.region|tojson }}

  default_tags {
    tags = {{ p.tf_tags }}
  }
}

