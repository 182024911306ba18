-- Who stored a row: the execution (per-transaction path) or batch:<run>:<chunk> (file path).
-- Looked up when a retried chunk claims its rows and when a failed chunk is undone.
create index if not exists transactions_execution_id_idx on compliance.transactions (execution_id);
