terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0" # exact: the same provider as envs/dev and envs/prod
    }
  }

  # Local state, in the stack's home: `mtx up --terraform` runs
  # `terraform init -backend-config=path=<home>/terraform.tfstate`.
  backend "local" {}
}
