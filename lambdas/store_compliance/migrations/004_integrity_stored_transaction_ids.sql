-- The PENDING sweeper (lambdas/sweep_pending) must know whether transactions it holds the ids of are
-- in the compliance store, as the reader, which sees no table of this database. This function answers
-- with those of the given ids that are stored, and nothing else (no column of a row); it runs with
-- its owner's rights, like integrity.transaction_count().
create or replace function integrity.stored_transaction_ids(ids text[]) returns setof text
    language sql stable security definer
    set search_path = pg_catalog, pg_temp
as $$ select t.transaction_id from compliance.transactions t where t.transaction_id = any(ids) $$;

revoke all on function integrity.stored_transaction_ids(text[]) from public;
grant execute on function integrity.stored_transaction_ids(text[]) to mtx_compliance_reader;
