-- Status updates with versions (contracts/lifecycle.py). compliance.transactions keeps the CURRENT version of
-- each transaction; compliance.transaction_versions keeps every version, written only by the triggers below
-- (the writer may not write it). The database enforces the lifecycle itself: an update that skips a version
-- or makes a move the lifecycle does not allow is refused, whatever code sends it.
alter table compliance.transactions
    add column if not exists version integer not null default 1 check (version >= 1),
    add column if not exists previous_status varchar(16),
    add column if not exists updated_at timestamptz not null default now();

-- The allowed moves, as contracts/lifecycle.py MOVES declares them (a unit test compares the two).
create table if not exists compliance.lifecycle_moves (
    from_status varchar(16) not null,
    to_status   varchar(16) not null,
    primary key (from_status, to_status)
);
insert into compliance.lifecycle_moves (from_status, to_status) values
    ('pending', 'completed'), ('pending', 'failed'), ('completed', 'refunded'), ('completed', 'chargeback')
on conflict do nothing;

create table if not exists compliance.transaction_versions (
    transaction_id     varchar(64) not null
        references compliance.transactions (transaction_id) on delete cascade,
    version            integer     not null check (version >= 1),
    transaction_status varchar(16) not null,
    previous_status    varchar(16),
    raw                jsonb       not null,
    execution_id       text,
    recorded_at        timestamptz not null default now(),
    primary key (transaction_id, version)
);
-- what one writer (an execution, a file chunk, a stream batch) stored: its retry finds its own versions
create index if not exists transaction_versions_execution_id_idx on compliance.transaction_versions (execution_id);

insert into compliance.transaction_versions
    (transaction_id, version, transaction_status, previous_status, raw, execution_id, recorded_at)
select transaction_id, version, transaction_status, previous_status, raw, execution_id, stored_at
from compliance.transactions
on conflict do nothing;

-- Before an update: a status change is the next version along an allowed move, or the undo of the latest
-- version (back to its previous status, one version down: lambdas/undo_partial_write).
create or replace function compliance.check_version_move() returns trigger
    language plpgsql
    set search_path = pg_catalog, pg_temp
as $$
begin
    if new.version = old.version then
        if new.transaction_status <> old.transaction_status then
            raise exception 'transaction_status: changed without a new version' using errcode = '23514';
        end if;
        return new;
    end if;
    if new.version = old.version + 1 then
        if new.previous_status is distinct from old.transaction_status or not exists (
            select 1 from compliance.lifecycle_moves m
            where m.from_status = old.transaction_status and m.to_status = new.transaction_status
        ) then
            raise exception 'transaction_status: the lifecycle does not allow this move' using errcode = '23514';
        end if;
        return new;
    end if;
    if new.version = old.version - 1 and new.transaction_status is not distinct from old.previous_status then
        return new;
    end if;
    raise exception 'version: an update moves one version up (a move) or down (an undo)' using errcode = '23514';
end
$$;

-- After a statement: every inserted row is a version 1, every version up is recorded, every undo removes the
-- version it undid. Statement-level with transition tables: one insert per COPY merge, not one per row.
create or replace function compliance.record_inserted_versions() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, pg_temp
as $$
begin
    insert into compliance.transaction_versions
        (transaction_id, version, transaction_status, previous_status, raw, execution_id, recorded_at)
    select n.transaction_id, n.version, n.transaction_status, n.previous_status, n.raw, n.execution_id, n.updated_at
    from inserted_rows n;
    return null;
end
$$;

create or replace function compliance.record_updated_versions() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, pg_temp
as $$
begin
    insert into compliance.transaction_versions
        (transaction_id, version, transaction_status, previous_status, raw, execution_id, recorded_at)
    select n.transaction_id, n.version, n.transaction_status, n.previous_status, n.raw, n.execution_id, n.updated_at
    from new_rows n join old_rows o using (transaction_id)
    where n.version = o.version + 1;
    delete from compliance.transaction_versions v
    using new_rows n join old_rows o using (transaction_id)
    where n.version = o.version - 1 and v.transaction_id = o.transaction_id and v.version = o.version;
    return null;
end
$$;

drop trigger if exists transactions_check_version_move on compliance.transactions;
create trigger transactions_check_version_move
    before update on compliance.transactions
    for each row execute function compliance.check_version_move();

drop trigger if exists transactions_record_inserted_versions on compliance.transactions;
create trigger transactions_record_inserted_versions
    after insert on compliance.transactions
    referencing new table as inserted_rows
    for each statement execute function compliance.record_inserted_versions();

drop trigger if exists transactions_record_updated_versions on compliance.transactions;
create trigger transactions_record_updated_versions
    after update on compliance.transactions
    referencing old table as old_rows new table as new_rows
    for each statement execute function compliance.record_updated_versions();

revoke all on function compliance.record_inserted_versions() from public;
revoke all on function compliance.record_updated_versions() from public;

-- The writer moves transactions along the lifecycle (update) and reads the history (its retries find what
-- they stored); it never writes the history itself.
grant update on compliance.transactions to mtx_compliance_writer;
grant select on compliance.transaction_versions to mtx_compliance_writer;
grant select on compliance.lifecycle_moves to mtx_compliance_writer;

-- The sweeper (as the reader) asks which messages -- (transaction id, status) pairs -- the store holds as a
-- version; nothing else of a row.
create or replace function integrity.stored_messages(ids text[], statuses text[]) returns setof text
    language sql stable security definer
    set search_path = pg_catalog, pg_temp
as $$
    select v.transaction_id || '/' || v.transaction_status
    from compliance.transaction_versions v
    join unnest(ids, statuses) as m (transaction_id, transaction_status)
        on v.transaction_id = m.transaction_id and v.transaction_status = m.transaction_status
$$;

revoke all on function integrity.stored_messages(text[], text[]) from public;
grant execute on function integrity.stored_messages(text[], text[]) to mtx_compliance_reader;
