-- The compliance store: every stored transaction in full (including payment details).
create schema if not exists compliance;

create table if not exists compliance.transactions (
    transaction_id     varchar(64)    primary key,
    user_id            varchar(64)    not null,
    game               varchar(120)   not null,
    item_id            varchar(64)    not null,
    item_type          varchar(32)    not null,
    price_amount       numeric(18, 3) not null check (price_amount > 0),
    price_currency     char(3)        not null,
    payment_method     varchar(32)    not null,
    card_last4         char(4),
    transaction_status varchar(16)    not null,
    gateway            varchar(32)    not null,
    event_at           timestamptz    not null,
    server_region      varchar(32)    not null,
    client_ip          inet           not null,
    raw                jsonb          not null,
    execution_id       text,
    stored_at          timestamptz    not null default now()
);

create index if not exists transactions_event_at_idx on compliance.transactions (event_at);
