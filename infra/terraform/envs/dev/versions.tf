terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0" # exact: the lock file is not committed (.gitignore), so the pin is here
    }
  }

  # Remote state in S3 with S3-native locking (Terraform >= 1.10). Partial
  # configuration: copy backend.hcl.example to backend.hcl, fill it in, then
  # `terraform init -backend-config=backend.hcl`. See infra/README.md.
  backend "s3" {}
}
