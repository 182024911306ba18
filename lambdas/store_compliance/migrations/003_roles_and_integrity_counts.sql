-- Least privilege (lambdas/migrate_databases/roles.py creates the roles; this file runs as the
-- migrator, the owner of both schemas). The writer stores rows and undoes partial writes; it runs
-- no DDL and owns nothing. The analytics reader sees no table of this database: it gets counts
-- through integrity.transaction_count(), which runs with its owner's rights and returns one number.
grant usage on schema compliance to mtx_compliance_writer;
grant select, insert, delete on compliance.transactions to mtx_compliance_writer;
grant select on compliance.schema_migrations to mtx_compliance_writer;

create schema if not exists integrity;

create or replace function integrity.transaction_count() returns bigint
    language sql stable security definer
    set search_path = pg_catalog, pg_temp
as $$ select count(*) from compliance.transactions $$;

revoke all on function integrity.transaction_count() from public;
grant usage on schema integrity to mtx_compliance_reader;
grant execute on function integrity.transaction_count() to mtx_compliance_reader;
