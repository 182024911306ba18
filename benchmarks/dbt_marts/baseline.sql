-- The dbt marts benchmark's baseline (benchmarks/dbt_marts/baseline.py): the tables the dbt
-- project builds, written by hand as CREATE TABLE AS in schema bench_baseline, from
-- raw.mtx_transactions and bench_baseline.exchange_rates (the seed, copied in first; only the
-- day-filled rates read it: amounts in USD come from the raw rows, as the Enrich stage stored
-- them). They make the models' SQL choices too (the current version by an anti-join, the
-- player-month table, distinct ids counted bytewise), so the benchmark's ratio measures what
-- dbt adds. Revenue follows macros/lifecycle_revenue.sql: a purchase is completed, refunded or
-- charged back; refunded and charged-back transactions are in gross, out of net. PostgreSQL
-- only (generate_series, lateral, filter, collate "C").
-- The statements run in order, each timed under the name on its `-- step:` line.

-- step: int_exchange_rates_filled_to_days
create table bench_baseline.int_exchange_rates_filled_to_days as
select
    cast(p.currency as varchar(3)) as currency,
    cast(d.day as date) as rate_valid_date,
    p.rate_date,
    cast(p.usd_per_unit as numeric(18, 8)) as usd_per_unit,
    p.next_rate_date is null as is_latest_rate
from (
    select *, lead(rate_date) over (partition by currency order by rate_date) as next_rate_date
    from bench_baseline.exchange_rates
) as p
cross join lateral generate_series(
    p.rate_date, coalesce(p.next_rate_date - 1, p.rate_date), interval '1 day'
) as d(day);

-- step: fct_transactions
-- the current version of each transaction (the highest stored), as
-- int_transactions_filtered_to_current_version chooses it: an anti-join on the raw key
create table bench_baseline.fct_transactions as
select
    r.transaction_id,
    r.user_id as player_id,
    r.game, r.item_id, r.item_name, r.item_type,
    r.price_amount as amount,
    cast(r.price_currency as varchar(3)) as currency,
    cast(r.amount_usd as numeric(18, 4)) as amount_usd,
    cast(r.usd_per_unit as numeric(18, 8)) as usd_exchange_rate,
    r.fx_rate_date as exchange_rate_date,
    r.amount_usd is not null as has_exchange_rate,
    r.payment_method, r.payment_gateway, r.transaction_status,
    coalesce(r.transaction_status = 'completed', false) as is_completed,
    coalesce(r.transaction_status = 'refunded', false) as is_refunded,
    coalesce(r.transaction_status = 'chargeback', false) as is_chargeback,
    coalesce(r.transaction_status in ('completed', 'refunded', 'chargeback'), false) as is_purchase,
    r.transaction_status in ('refunded', 'chargeback') as is_reversed,
    cast(case when r.transaction_status in ('completed', 'refunded', 'chargeback')
        then coalesce(r.amount_usd, 0) else 0 end as numeric(18, 4)) as gross_usd,
    cast(case when r.transaction_status in ('refunded', 'chargeback')
        then coalesce(r.amount_usd, 0) else 0 end as numeric(18, 4)) as refunded_usd,
    cast(case when r.transaction_status = 'completed'
        then coalesce(r.amount_usd, 0) else 0 end as numeric(18, 4)) as net_usd,
    r.version, r.previous_status,
    coalesce(r.status_updated_at, r.ingested_at) as status_updated_at,
    r.server_region,
    cast(r.country as varchar(2)) as country_code,
    r.region as player_region,
    r.item_category, r.list_price_usd, r.is_first_purchase, r.application_id, r.contract_version,
    r.event_at, r.event_date,
    cast(date_trunc('month', r.event_at) as date) as event_month,
    r.ingested_at,
    r.source_partition as source_partition_date,
    r.loaded_at
from raw.mtx_transactions as r
where not exists (
    select 1 from raw.mtx_transactions as later
    where later.transaction_id = r.transaction_id and later.version > r.version
);

-- step: fct_transaction_status_history
-- every stored version, with what applying it added to revenue (its status's worth minus the previous one's)
create table bench_baseline.fct_transaction_status_history as
select
    r.transaction_id, r.version, r.transaction_status, r.previous_status,
    coalesce(r.status_updated_at, r.ingested_at) as status_updated_at,
    r.user_id as player_id, r.game, r.item_id, r.event_at, r.event_date,
    cast(r.amount_usd as numeric(18, 4)) as amount_usd,
    cast((case when r.transaction_status in ('completed', 'refunded', 'chargeback') then 1 else 0 end)
        - (case when r.previous_status in ('completed', 'refunded', 'chargeback') then 1 else 0 end)
        as integer) as purchase_count_delta,
    cast((case when r.transaction_status in ('completed', 'refunded', 'chargeback')
                then coalesce(r.amount_usd, 0) else 0 end)
        - (case when r.previous_status in ('completed', 'refunded', 'chargeback')
                then coalesce(r.amount_usd, 0) else 0 end)
        as numeric(18, 4)) as gross_usd_delta,
    cast((case when r.transaction_status in ('refunded', 'chargeback') then coalesce(r.amount_usd, 0) else 0 end)
        - (case when r.previous_status in ('refunded', 'chargeback') then coalesce(r.amount_usd, 0) else 0 end)
        as numeric(18, 4)) as refunded_usd_delta,
    cast((case when r.transaction_status = 'completed' then coalesce(r.amount_usd, 0) else 0 end)
        - (case when r.previous_status = 'completed' then coalesce(r.amount_usd, 0) else 0 end)
        as numeric(18, 4)) as net_usd_delta,
    r.ingested_at, r.loaded_at
from raw.mtx_transactions as r;

-- step: analyze fct_transactions
analyze bench_baseline.fct_transactions;

-- step: int_transactions_aggregated_to_player_months
create table bench_baseline.int_transactions_aggregated_to_player_months as
select
    player_id,
    event_month as activity_month,
    count(*) as transaction_count,
    count(*) filter (where is_completed) as purchase_count,
    count(*) filter (where is_reversed) as refund_count,
    cast(sum(amount_usd) filter (where is_completed) as numeric(20, 4)) as revenue_usd,
    min(event_at) as first_seen_at,
    max(event_at) as last_seen_at,
    min(event_at) filter (where is_completed) as first_purchase_at,
    max(event_at) filter (where is_completed) as last_purchase_at,
    max(loaded_at) as last_loaded_at
from bench_baseline.fct_transactions
group by player_id, event_month;

-- step: analyze player months
analyze bench_baseline.int_transactions_aggregated_to_player_months;

-- step: dim_items
create table bench_baseline.dim_items as
with activity as (
    select item_id, min(event_at) as first_seen_at, max(event_at) as last_seen_at,
        max(loaded_at) as last_loaded_at
    from bench_baseline.fct_transactions
    group by item_id
),
latest as (
    select distinct on (t.item_id) t.item_id, t.item_name, t.item_type, t.game
    from bench_baseline.fct_transactions as t
    join activity as a on t.item_id = a.item_id and t.event_at = a.last_seen_at
    order by t.item_id, t.transaction_id desc
)
select a.item_id, l.item_name, l.item_type, l.game, a.first_seen_at, a.last_seen_at, a.last_loaded_at
from activity as a
join latest as l on l.item_id = a.item_id;

-- step: dim_players
create table bench_baseline.dim_players as
select
    player_id,
    min(first_seen_at) as first_seen_at,
    max(last_seen_at) as last_seen_at,
    min(first_purchase_at) as first_purchase_at,
    max(last_purchase_at) as last_purchase_at,
    cast(min(first_purchase_at) as date) as first_purchase_date,
    cast(date_trunc('month', min(first_purchase_at)) as date) as first_purchase_month,
    cast(sum(transaction_count) as bigint) as transaction_count,
    cast(sum(purchase_count) as bigint) as purchase_count,
    cast(sum(refund_count) as bigint) as refund_count,
    cast(coalesce(sum(revenue_usd), 0) as numeric(20, 4)) as lifetime_value_usd,
    sum(purchase_count) > 1 as is_repeat_purchaser,
    max(last_loaded_at) as last_loaded_at
from bench_baseline.int_transactions_aggregated_to_player_months
group by player_id;

-- step: fct_daily_revenue
create table bench_baseline.fct_daily_revenue as
select
    event_date as revenue_date, game, server_region, item_type,
    count(*) as transaction_count,
    count(*) filter (where is_purchase) as purchase_count,
    count(*) filter (where is_refunded) as refund_count,
    count(*) filter (where is_chargeback) as chargeback_count,
    count(*) filter (where transaction_status = 'failed') as failed_count,
    count(*) filter (where transaction_status = 'pending') as pending_count,
    count(distinct player_id collate "C") filter (where is_completed) as paying_player_count,
    cast(sum(gross_usd) as numeric(20, 4)) as gross_usd,
    cast(sum(refunded_usd) as numeric(20, 4)) as refunded_usd,
    cast(sum(net_usd) as numeric(20, 4)) as net_usd,
    cast(sum(net_usd) as numeric(20, 4)) as revenue_usd,
    count(*) filter (where is_purchase and not has_exchange_rate) as unconverted_purchase_count,
    max(loaded_at) as last_loaded_at
from bench_baseline.fct_transactions
group by event_date, game, server_region, item_type;

-- step: fct_hourly_revenue
create table bench_baseline.fct_hourly_revenue as
select
    game,
    cast(date_trunc('hour', event_at) as timestamp) as revenue_hour,
    event_date as revenue_date,
    count(*) as transaction_count,
    count(*) filter (where is_purchase) as purchase_count,
    cast(sum(gross_usd) as numeric(20, 4)) as gross_usd,
    cast(sum(refunded_usd) as numeric(20, 4)) as refunded_usd,
    cast(sum(net_usd) as numeric(20, 4)) as net_usd,
    max(loaded_at) as last_loaded_at
from bench_baseline.fct_transactions
group by game, date_trunc('hour', event_at), event_date;

-- step: fct_payment_mix
create table bench_baseline.fct_payment_mix as
with mix as (
    select
        event_month as payment_month, payment_method, payment_gateway,
        count(*) as transaction_count,
        count(*) filter (where is_completed) as purchase_count,
        count(*) filter (where is_reversed) as refund_count,
        count(*) filter (where transaction_status = 'failed') as failed_count,
        count(*) filter (where transaction_status = 'pending') as pending_count,
        coalesce(sum(amount_usd) filter (where is_completed), 0) as revenue_usd,
        max(loaded_at) as last_loaded_at
    from bench_baseline.fct_transactions
    group by event_month, payment_method, payment_gateway
),
totals as (
    select *,
        sum(transaction_count) over w as month_transaction_count,
        sum(revenue_usd) over w as month_revenue_usd
    from mix
    window w as (partition by payment_month)
)
select
    payment_month, payment_method, payment_gateway,
    transaction_count, purchase_count, refund_count, failed_count, pending_count,
    cast(case when purchase_count + refund_count + failed_count > 0 then round(
        cast(purchase_count + refund_count as numeric(20, 6))
        / (purchase_count + refund_count + failed_count), 6
    ) end as numeric(9, 6)) as payment_success_rate,
    cast(revenue_usd as numeric(20, 4)) as revenue_usd,
    cast(round(cast(transaction_count as numeric(20, 6)) / month_transaction_count, 6) as numeric(9, 6))
        as transaction_share_of_month,
    cast(case when month_revenue_usd > 0 then round(revenue_usd / month_revenue_usd, 6) end as numeric(9, 6))
        as revenue_share_of_month,
    last_loaded_at
from totals;

-- step: fct_item_performance
create table bench_baseline.fct_item_performance as
with item_months as (
    select
        event_month as sales_month, item_id,
        count(*) filter (where is_completed) as units_sold,
        count(distinct player_id collate "C") filter (where is_completed) as buyer_count,
        coalesce(sum(amount_usd) filter (where is_completed), 0) as revenue_usd,
        count(*) filter (where is_reversed) as refund_count,
        max(loaded_at) as last_loaded_at
    from bench_baseline.fct_transactions
    group by event_month, item_id
),
ranked as (
    select m.*, i.item_name, i.item_type, i.game,
        rank() over (partition by m.sales_month order by m.revenue_usd desc) as rank_overall,
        rank() over (partition by m.sales_month, i.game order by m.revenue_usd desc) as rank_in_game,
        sum(m.revenue_usd) over (partition by m.sales_month, i.game) as game_revenue_usd
    from item_months as m
    join bench_baseline.dim_items as i on i.item_id = m.item_id
)
select
    sales_month, item_id, item_name, item_type, game,
    units_sold, buyer_count,
    cast(revenue_usd as numeric(20, 4)) as revenue_usd,
    refund_count,
    cast(case when units_sold + refund_count > 0
        then round(cast(refund_count as numeric(20, 6)) / (units_sold + refund_count), 6)
    end as numeric(9, 6)) as refund_rate,
    cast(rank_overall as integer) as revenue_rank_overall,
    cast(rank_in_game as integer) as revenue_rank_in_game,
    cast(case when game_revenue_usd > 0 then round(revenue_usd / game_revenue_usd, 6) end as numeric(9, 6))
        as revenue_share_of_game,
    last_loaded_at
from ranked;

-- step: fct_player_cohorts
create table bench_baseline.fct_player_cohorts as
with players as (
    select player_id, first_purchase_month as cohort_month
    from bench_baseline.dim_players
    where first_purchase_month is not null
),
sizes as (
    select cohort_month, count(*) as cohort_size from players group by cohort_month
),
activity as (
    select
        p.cohort_month, m.activity_month,
        count(*) as active_player_count,
        count(*) filter (where m.activity_month > p.cohort_month or m.purchase_count > 1)
            as repeat_purchaser_count,
        sum(m.purchase_count) as purchase_count,
        sum(m.revenue_usd) as revenue_usd
    from bench_baseline.int_transactions_aggregated_to_player_months as m
    join players as p on p.player_id = m.player_id
    where m.purchase_count > 0
    group by p.cohort_month, m.activity_month
)
select
    a.cohort_month,
    cast((extract(year from a.activity_month) - extract(year from a.cohort_month)) * 12
        + (extract(month from a.activity_month) - extract(month from a.cohort_month)) as integer)
        as months_since_first_purchase,
    a.activity_month,
    s.cohort_size,
    a.active_player_count,
    a.repeat_purchaser_count,
    cast(round(cast(a.repeat_purchaser_count as numeric(20, 6)) / s.cohort_size, 6) as numeric(9, 6))
        as repeat_purchase_rate,
    cast(round(cast(a.active_player_count as numeric(20, 6)) / s.cohort_size, 6) as numeric(9, 6))
        as active_player_rate,
    cast(a.purchase_count as bigint) as purchase_count,
    cast(coalesce(a.revenue_usd, 0) as numeric(20, 4)) as revenue_usd,
    cast(sum(coalesce(a.revenue_usd, 0)) over (
        partition by a.cohort_month order by a.activity_month
        rows between unbounded preceding and current row
    ) as numeric(20, 4)) as cumulative_revenue_usd
from activity as a
join sizes as s on s.cohort_month = a.cohort_month;
