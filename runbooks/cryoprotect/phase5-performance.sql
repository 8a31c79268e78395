-- Phase 5: performance.
--
-- Indexes for the application's hot paths, and one behind every foreign key
-- (row-level security filters on created_by, and deleting a parent row
-- scans the child table by its key):
--   * predictions and experiments of a mixture for one property (the
--     property panel of the mixture page);
--   * name search: lower(name) with text_pattern_ops serves both exact
--     case-insensitive lookups and prefix searches (lower(name) like 'gly%');
--     a trigram index is added too, only when pg_trgm is already installed;
--   * lookup of a structure by SMILES, unique now that phase 4 merged the
--     duplicate registrations.
-- Plain CREATE INDEX, because runsheet runs this inside a transaction (CREATE
-- INDEX CONCURRENTLY cannot). On a large production table that blocks writes
-- while it builds: plan it inside the maintenance window.
--
-- Undo: phase5-rollback.sql. Check: phase5-verify.sql.

do $$
begin
    if to_regclass('public.idx_predictions_mixture_property') is not null then
        raise exception 'phase 5 (performance) is already applied: index idx_predictions_mixture_property exists'
            using hint = 'Nothing to do. To apply it again, run phase5-rollback.sql first.';
    end if;
    if to_regclass('public.molecule_experiments') is null then
        raise exception 'phase 5 (performance) needs phase 4 (data migration) first: table molecule_experiments does not exist';
    end if;
    if exists (select 1 from pg_attribute
               where attrelid = 'public.experiments'::regclass and attname = 'legacy_molecule_id'
                 and not attisdropped) then
        raise exception 'phase 5 (performance) needs phase 4 (data migration) first: column experiments.legacy_molecule_id still exists';
    end if;
end
$$;

create index idx_predictions_mixture_property on predictions (mixture_id, property_type_id);
create index idx_predictions_property_type on predictions (property_type_id);
create index idx_experiments_mixture_property on experiments (mixture_id, property_type_id);
create index idx_experiments_property_type on experiments (property_type_id);
create index idx_mixture_components_molecule on mixture_components (molecule_id);
create index idx_molecule_experiments_molecule on molecule_experiments (molecule_id);

create index idx_molecules_created_by on molecules (created_by);
create index idx_mixtures_created_by on mixtures (created_by);
create index idx_experiments_created_by on experiments (created_by);
create index idx_predictions_created_by on predictions (created_by);

create index idx_molecules_name_lower on molecules (lower(name) text_pattern_ops);
create index idx_mixtures_name_lower on mixtures (lower(name) text_pattern_ops);
create unique index idx_molecules_smiles on molecules (smiles);

-- Substring search (name like '%glycol%') needs trigrams. Installing an
-- extension is a decision for the DBA, not for this script, so the index is
-- only built when pg_trgm is already there, wherever its schema is.
do $$
declare
    trgm_schema name;
begin
    select n.nspname into trgm_schema
    from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pg_trgm';
    if trgm_schema is not null then
        execute format('create index idx_molecules_name_trgm on public.molecules using gin (name %I.gin_trgm_ops)',
                       trgm_schema);
    end if;
end
$$;

-- Fresh statistics so the planner uses the new indexes right away.
analyze user_profiles, property_types, molecules, mixtures, mixture_components, experiments, predictions,
    molecule_experiments;
