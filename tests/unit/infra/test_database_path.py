"""The AWS database side (issue 18, item 6): the runtime functions reach the compliance database only
through the RDS Proxy, over verify-full TLS, and the proxy holds no master secret.

Cross-checks over the parsed HCL, with the code (the settings reader, the CA bundle, the package). What
Terraform evaluates (the derived list of database functions, their reserved concurrency, the proxy's
auth, role and pool) is asserted by `terraform test` in modules/lambda and modules/database_proxy.
"""

from __future__ import annotations

import importlib.util
import re
import ssl
from typing import Any

import pytest

from orchestration.settings import REPO_ROOT, Settings, from_env
from tests.hcl_helpers import ENVS, MODULES, PLATFORM, REPO, blocks, module_locals, parsed, resource, unquote, variables

pytestmark = pytest.mark.unit

ENVIRONMENTS = sorted(p.name for p in ENVS.iterdir() if p.is_dir())
AWS_ENVIRONMENTS = [e for e in ENVIRONMENTS if e != "local"]
NETWORK = MODULES / "network"
POSTGRES = "${local.ports.postgres}"


def module_calls(env: str) -> dict[str, dict[str, Any]]:
    return {unquote(k): v for e in parsed(PLATFORM / "main.tf")["module"] for k, v in e.items()}


def sg_rules(kind: str) -> list[dict[str, Any]]:
    return [body for rtype, _, body in blocks(NETWORK, "resource") if rtype == f"aws_vpc_security_group_{kind}_rule"]


def group(ref: str) -> str:
    m = re.fullmatch(r"\$\{aws_security_group\.(\w+)\.id\}", ref)
    assert m, ref
    return m.group(1)


# --- the path: Lambda SG -> proxy SG -> RDS SG, PostgreSQL only ------------------------------------------


def test_postgresql_flows_lambda_to_proxy_to_database_and_migration_to_database_only() -> None:
    egress = {(group(r["security_group_id"]), group(r["referenced_security_group_id"]))
              for r in sg_rules("egress") if r.get("from_port") == POSTGRES}  # fmt: skip
    ingress = {(group(r["referenced_security_group_id"]), group(r["security_group_id"]))
               for r in sg_rules("ingress") if r.get("from_port") == POSTGRES}  # fmt: skip
    expected = {("lambda", "database_proxy"), ("database_proxy", "database"), ("migration", "database")}
    assert egress == expected
    assert ingress == expected
    for rule in sg_rules("egress") + sg_rules("ingress"):
        if rule.get("from_port") == POSTGRES:
            assert rule["to_port"] == POSTGRES and unquote(rule["ip_protocol"]) == "tcp"
            assert "cidr_ipv4" not in rule and "prefix_list_id" not in rule  # group to group only


def test_no_runtime_function_reaches_any_port_of_the_database_group() -> None:
    into_database = [r for r in sg_rules("ingress") if group(r["security_group_id"]) == "database"]
    assert {group(r["referenced_security_group_id"]) for r in into_database} == {"database_proxy", "migration"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_wires_the_proxy_between_the_runtime_roles_and_rds(env: str) -> None:
    calls = module_calls(env)
    proxy = calls["database_proxy"]
    assert proxy["security_group_id"] == "${module.network.database_proxy_security_group_id}"
    assert proxy["db_instance_identifier"] == "${module.database.instance_identifier}"
    assert proxy["db_max_connections"] == "${module.database.max_connections}"
    assert proxy["client_connections_at_most"] == "${module.lambda.database_connections_at_most}"
    # the runtime roles' secrets only: never a master (module database / warehouse) or the migrator's
    assert proxy["secret_arns"] == {
        "compliance_writer": '${module.database_roles.secret_arns["compliance_writer"]}',
        "compliance_reader": '${module.database_roles.secret_arns["compliance_reader"]}',
    }
    assert calls["database_roles"]["compliance_proxy_host"] == "${module.database_proxy.endpoint}"
    lam = calls["lambda"]
    assert lam["security_group_id"] == "${module.network.lambda_security_group_id}"
    assert lam["migration_security_group_id"] == "${module.network.migration_security_group_id}"
    assert calls["database"]["security_group_id"] == "${module.network.database_security_group_id}"


def test_the_runtime_roles_secrets_name_the_proxy_and_the_migrator_the_instance() -> None:
    local = module_locals(MODULES / "database_roles")
    assert local["connections"]["compliance_writer"] == "${local.runtime_compliance_connection}"
    assert local["connections"]["compliance_reader"] == "${local.runtime_compliance_connection}"
    assert local["connections"]["compliance_migrator"] == "${var.compliance_connection}"
    assert (
        "coalesce(var.compliance_proxy_host, var.compliance_connection.host)" in local["runtime_compliance_connection"]
    )


def test_the_proxy_has_no_auth_entry_but_the_variables() -> None:
    proxy = resource(MODULES / "database_proxy", "aws_db_proxy")
    assert proxy["require_tls"] is True
    (auth,) = proxy["dynamic"]
    assert auth['"auth"']["for_each"] == "${var.secret_arns}"
    (rule,) = variables(MODULES / "database_proxy")["secret_arns"]["validation"]
    assert rule["condition"] == '${toset(keys(var.secret_arns)) == toset(["compliance_reader", "compliance_writer"])}'


# --- TLS: verify-full in AWS, against the shipped bundle --------------------------------------------------


@pytest.mark.parametrize("env", AWS_ENVIRONMENTS)
def test_aws_environments_verify_the_database_certificate_and_host(env: str) -> None:
    var = variables(ENVS / env)
    assert unquote(var["db_sslmode"]["default"]) == "verify-full"
    assert var["db_sslmode"]["validation"][0]["condition"] == '${contains(["verify-full"], var.db_sslmode)}'
    settings = module_locals(PLATFORM)["settings"]
    assert settings["MTX_DB_SSLMODE"] == "${var.db_sslmode}"
    assert settings["MTX_DB_SSLROOTCERT"] == "${var.db_sslrootcert}"
    bundle = unquote(var["db_sslrootcert"]["default"])
    assert (REPO / bundle).is_file()


def test_the_settings_reader_turns_the_variables_into_libpq_options() -> None:
    s = from_env({"MTX_DB_SSLMODE": "verify-full", "MTX_DB_SSLROOTCERT": "lambdas/common/certs/aws-rds-ca-bundle.pem"})
    assert s.db_ssl_options() == {
        "sslmode": "verify-full",
        "sslrootcert": str(REPO_ROOT / "lambdas" / "common" / "certs" / "aws-rds-ca-bundle.pem"),
    }
    assert from_env({"MTX_DB_SSLROOTCERT": "/etc/ca.pem"}).db_ssl_options() == {"sslrootcert": "/etc/ca.pem"}
    assert Settings().db_ssl_options() == {}  # unset: libpq's default


def test_the_bundle_is_shipped_and_trusts_rds_the_proxy_and_redshift() -> None:
    bundle = REPO / unquote(variables(ENVS / "prod")["db_sslrootcert"]["default"])
    spec = importlib.util.spec_from_file_location("mtx_package", REPO / "infra" / "scripts" / "package.py")
    assert spec and spec.loader
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    assert bundle in package.function_files()  # in the zip; the analytics image copies lambdas/ whole
    context = ssl.create_default_context(cafile=str(bundle))  # what OpenSSL (and so libpq) loads
    subjects = {dict(x[0] for x in cert["subject"]).get("commonName") for cert in context.get_ca_certs()}
    # RDS Proxy and Redshift present ACM certificates, which chain to the Amazon roots
    assert {"Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4"} <= subjects
    # RDS itself (migrate_databases, directly): the instance's CA, rds-ca-rsa2048-g1, for every region
    instance = resource(MODULES / "database", "aws_db_instance")
    assert unquote(instance["ca_cert_identifier"]) == "rds-ca-rsa2048-g1"
    for env in ENVIRONMENTS:
        region = unquote(variables(ENVS / env)["region"]["default"])
        assert f"Amazon RDS {region} Root CA RSA2048 G1" in subjects, region
